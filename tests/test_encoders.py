import json

import numpy as np
import pytest

from unembed.encoders import check_vectors, read_pairs, read_vectors
from unembed.errors import UnembedError


def test_minilm_from_pypi_gives_normalised_384d_vectors_that_rank_meaning(encoder):
    assert encoder.dim == 384 and encoder.name == "all-MiniLM-L6-v2"  # the preset, by its hub id too
    v = encoder.encode(["A cat sleeps on the sofa.", "A kitten naps on the couch.",
                        "Interest rates rose sharply in March."])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3


def test_black_box_pairs_in_every_format(tmp_path):
    texts = ["first text", "second text"]
    vectors = np.random.default_rng(0).normal(size=(2, 8)).astype(np.float32)
    np.save(tmp_path / "api.npy", vectors)
    (tmp_path / "api.txt").write_text("\n".join(texts))
    with open(tmp_path / "api.jsonl", "w") as f:
        for t, v in zip(texts, vectors):
            f.write(json.dumps({"text": t, "vector": v.tolist()}) + "\n")
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"text": texts, "vector": vectors.tolist()}), tmp_path / "api.parquet")
    for name in ("api.npy", "api.jsonl", "api.parquet"):
        got_texts, got = read_pairs(tmp_path / name)
        assert got_texts == texts and np.allclose(got, vectors), name
    assert np.allclose(read_vectors(tmp_path / "api.jsonl"), vectors)


@pytest.mark.parametrize("bad, message", [
    (np.full((2, 8), np.nan), "NaN"),
    (np.zeros((1, 8)), "all zeros"),
    (np.ones((1, 7)), "dimension 7"),
    (np.ones((0, 8)), "non-empty"),
])
def test_check_vectors_says_what_is_wrong(bad, message):
    with pytest.raises(UnembedError, match=message):
        check_vectors(bad, dim=8)


def test_use_multilingual_from_pypi_embeds_meaning_across_languages():
    from unembed.encoders import load_encoder
    use = load_encoder("use-multilingual")
    v = use.encode(["The cat sleeps on the sofa.", "Die Katze schläft auf dem Sofa.",
                    "Interest rates rose sharply in March.", ""])
    assert v.shape == (4, 512) and v.dtype == np.float32 and use.dim == 512
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3  # the same sentence in German is nearest
    assert np.allclose(use.encode(["The cat sleeps on the sofa."])[0], v[0], atol=1e-5)  # batch-independent
    assert use.settings() == {"encoder": "use-multilingual", "encoder_path": "", "encoder_prompt": "document",
                              "encoder_dim": 0}
    with pytest.raises(UnembedError, match="no prompts"):
        load_encoder("use-multilingual", prompt="query")
    assert load_encoder("use-multilingual", dim=64).encode(["a text"]).shape == (1, 64)


@pytest.mark.slow  # ~20 s; the default run keeps the e5 and GTR pipelines (test_presets)
def test_prepare_train_invert_with_a_packaged_multilingual_encoder(tmp_path):
    """use-multilingual end to end, offline: XLM-R decoder tokenizer, 512-d vectors, and the
    round trip re-embeds with USE."""
    from conftest import SENTENCES, tiny_train_config
    from unembed.data.config import DataConfig
    from unembed.model.config import ModelConfig
    from unembed.data import prepare
    from unembed.inverter import Inverter
    from unembed.train import train
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(SENTENCES.read_text() + "Der Hund schläft im Garten.\nLe chat dort sur le canapé.\n")
    data = prepare(DataConfig(encoder="use-multilingual", heldout=4, shard_size=64, max_len=16),
                   tmp_path / "data", [str(corpus)])
    meta = json.loads((data / "meta.json").read_text())
    assert meta["encoder"] == "use-multilingual" and meta["dim"] == 512
    assert len(json.loads((data / "tokenizer.json").read_text())["model"]["vocab"]) == 250_002  # XLM-R
    run = train(tiny_train_config(data, tmp_path / "run", steps=30), ModelConfig(hidden=32, layers=1, heads=2))
    inverter = Inverter.from_pretrained(str(run / "last" / "model"), device="cpu")
    assert inverter.model.config.cond_dim == 512 and inverter.encoder.name == "use-multilingual"
    result = inverter.invert_texts(["Die Lampe stand auf dem Tisch."])[0]
    assert isinstance(result["reconstruction"], str) and -1 <= result["cosine"] <= 1
