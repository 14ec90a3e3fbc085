"""The EmbeddingGemma inverter's parts, end to end on a tiny random-weight Gemma-3 encoder built
here: the Gemma vocabulary cut to the corpus's pieces, Matryoshka widths, inverting stored
vectors with the encoder gone, the one-line answer when texts need it, and scripts the
vocabulary lacks."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from conftest import DATA, TINY_MODEL, copy_tree, run_cli, tiny_train_config
from unembed.errors import UnembedError
from unembed.vectors.matryoshka import cut_at_random, pad_prefixes, parse_widths

ROWS = [line.split("\t") for line in (DATA / "multilingual.tsv").read_text("utf-8").splitlines()]
TEXTS = [text for _, text in ROWS]  # 14 languages, 7 scripts


def test_random_cuts_are_unit_prefixes_of_every_width():
    vectors = torch.nn.functional.normalize(torch.randn(400, 32), dim=1)
    cut = cut_at_random(vectors, (8, 16), torch.Generator().manual_seed(0))
    kept = (cut != 0).sum(dim=1)
    assert set(kept.tolist()) == {8, 16, 32}  # every width drawn, the full one too
    assert torch.allclose(cut.norm(dim=1), torch.ones(400), atol=1e-5)
    for row, k in zip(range(400), kept.tolist()):  # a renormalised prefix of its own vector
        assert torch.allclose(cut[row, :k], torch.nn.functional.normalize(vectors[row, :k], dim=0), atol=1e-5)
    assert cut_at_random(vectors, (), torch.Generator()) is vectors


def test_prefixes_are_padded_and_other_widths_refused():
    v = np.random.default_rng(0).normal(size=(3, 16)).astype(np.float32)
    padded = pad_prefixes(v, 32, (8, 16))
    assert padded.shape == (3, 32) and not padded[:, 16:].any()
    assert np.allclose(np.linalg.norm(padded, axis=1), 1, atol=1e-6)
    with pytest.raises(UnembedError, match="dimension 12 .* 8, 16, 32"):
        pad_prefixes(v[:, :12], 32, (8, 16))
    assert parse_widths("512, 128,256") == (128, 256, 512)
    for bad in ("128,x", "0", "768"):
        with pytest.raises(ValueError):
            parse_widths(bad, 768)


@pytest.fixture(scope="module")
def gemma_run(tmp_path_factory):
    """A tiny inverter of a tiny Gemma-3 stand-in, trained with Matryoshka cuts to 8 and 16."""
    from unembed.data.config import DataConfig
    from unembed.model.config import ModelConfig
    from unembed.data import prepare
    from unembed.encoders.stand_in import make_stand_in
    from unembed.train import train
    root = tmp_path_factory.mktemp("gemma")
    encoder = make_stand_in("embeddinggemma-300m", root / "encoder", texts=TEXTS)
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    prepare(DataConfig(encoder="embeddinggemma-300m", encoder_path=str(encoder), heldout=4, shard_size=32,
                       max_len=24), root / "prepared", [str(corpus)])
    train(tiny_train_config(root / "prepared", root / "run", steps=500, eval_every=500, lexical_init=True),
          ModelConfig(**TINY_MODEL, matryoshka="8,16"))
    return root


def _f1(inverter, texts, vectors):
    from unembed.eval import score_rows
    hyps = inverter.invert(vectors)
    return float(np.mean([r["token_f1"] for r in score_rows(inverter.vocab, 24, texts, hyps)]))


@pytest.mark.slow
def test_tiny_gemma_inverter_reads_every_width(gemma_run):
    import unembed
    from unembed.vectors.matryoshka import matryoshka_cut
    meta = json.loads((gemma_run / "prepared" / "meta.json").read_text())
    inverter = unembed.load(gemma_run / "run" / "last" / "model", device="cpu")
    assert meta["encoder"] == "embeddinggemma-300m" and inverter.input_dims == (8, 16, 32)
    assert inverter.vocab.tokenizer.get_vocab_size() == 262145  # Gemma's own pieces ...
    assert len(inverter.vocab) < 2000  # ... cut to those the corpus uses
    texts = (gemma_run / "prepared" / "train.txt").read_text(encoding="utf-8").splitlines()
    full = inverter.encoder.encode(texts)
    f1 = {d: _f1(inverter, texts, matryoshka_cut(full, d)) for d in (32, 16, 8)}
    assert f1[32] > 0.6 and f1[16] > 0.4 and f1[8] > 0.2, f1
    # Hangul comes back as Hangul: the vocabulary kept that script's pieces
    korean = [t for t in texts if any("\uac00" <= c <= "\ud7a3" for c in t)]
    back = inverter.invert(inverter.encoder.encode(korean))
    assert any(any("\uac00" <= c <= "\ud7a3" for c in h) for h in back)


@pytest.mark.slow
def test_stored_vectors_invert_without_the_encoder_and_texts_say_how_to_get_it(gemma_run, tmp_path):
    import unembed
    model = gemma_run / "run" / "last" / "model"
    vectors = unembed.load(model, device="cpu").encoder.encode(TEXTS[:3])
    np.save(tmp_path / "v.npy", vectors[:, :16])
    moved = shutil.move(str(gemma_run / "encoder"), str(tmp_path / "elsewhere"))
    try:
        ok = run_cli("invert", "--model", str(model), "--vectors", str(tmp_path / "v.npy"), "-q")
        assert ok.returncode == 0, ok.stderr
        assert len(ok.stdout.strip().splitlines()) == 3
        missing = run_cli("invert", "--model", str(model), "A text to embed.", "-q")
        assert missing.returncode == 2
        line = missing.stderr.strip().splitlines()[-1]
        assert "embeddinggemma_from_pypi.py" in line and "--encoder-path" in line
        given = run_cli("invert", "--model", str(model), "--encoder-path", moved, TEXTS[0], "-q")
        assert given.returncode == 0, given.stderr
    finally:
        shutil.move(moved, str(gemma_run / "encoder"))
    np.save(tmp_path / "w.npy", vectors[:, :12])
    wrong = run_cli("invert", "--model", str(model), "--vectors", str(tmp_path / "w.npy"), "-q")
    assert wrong.returncode == 2 and "8, 16, 32" in wrong.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_eval_at_a_width_and_a_script_the_vocabulary_lacks(gemma_run, tmp_path):
    model = str(gemma_run / "run" / "last" / "model")
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS[:6]) + "\n", encoding="utf-8")
    result = run_cli("eval", str(texts), "--model", model, "--dim", "16", "-q")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["dim"] == 16 and metrics["cosine"] is not None
    bad = run_cli("eval", str(texts), "--model", model, "--dim", "12", "-q")
    assert bad.returncode == 2 and "8, 16, 32" in bad.stderr
    thai = run_cli("invert", "--model", model, "ภาษาไทยเป็นภาษาที่สวยงามมาก", "-q")
    assert thai.returncode == 2 and "Thai" in thai.stderr.strip().splitlines()[-1]


def _has(script: str, text: str) -> bool:
    from unembed.model.script_gate import text_scripts
    return script in text_scripts(text)


@pytest.mark.slow
def test_script_gate_is_fitted_into_the_model_and_holds_back_what_it_rules_out(gemma_run, tmp_path):
    import unembed
    from unembed.model.script_gate import GATE_DIR
    model = copy_tree(gemma_run / "run" / "last" / "model", tmp_path / "model")  # the fixture's stays gateless
    fitted = run_cli("script-gate", str(gemma_run / "prepared"), "--model", str(model), "--min-texts", "4",
                     "--steps", "2000", "--lr", "0.03", "--heldout", "0", "-q")
    assert fitted.returncode == 0, fitted.stderr
    assert {"Latin", "Cyrillic", "Hangul", "Han", "Kana"} <= set(json.loads(fitted.stdout)["scripts"])
    inverter = unembed.load(model, device="cpu")
    gate = inverter.gate
    texts = (gemma_run / "prepared" / "train.txt").read_text(encoding="utf-8").splitlines()
    full = inverter.encoder.encode(texts)
    # a gate that rules Hangul out leaves no Hangul in the text, where the model wrote it before
    korean = full[[i for i, t in enumerate(texts) if _has("Hangul", t)]]
    assert any(_has("Hangul", h) for h in inverter.invert(korean, script_gate=0.0))
    assert any(_has("Hangul", h) for h in inverter.invert(korean))      # the fitted gate lets it through
    gate.bias[gate.scripts.index("Hangul")] = -50.0
    assert not any(_has("Hangul", h) for h in inverter.invert(korean) + inverter.invert(korean[:, :8]))
    # the gate and the terms travel with an export
    (model / "NOTICE").write_text("terms\n")
    assert run_cli("export", str(model), str(tmp_path / "copy")).returncode == 0
    assert (tmp_path / "copy" / GATE_DIR / "gate.safetensors").is_file()
    assert (tmp_path / "copy" / "NOTICE").read_text() == "terms\n"
    (model / GATE_DIR / "config.json").write_text("{")
    broken = run_cli("invert", "--model", str(model), "--vectors", str(tmp_path / "none.npy"), "-q")
    assert broken.returncode == 2 and "unreadable script gate" in broken.stderr.strip().splitlines()[-1]
