"""Alignment maps: recovery of known maps on synthetic data, the map folder, and a real
encoder (USE-multilingual, 512-d) read by the tiny 384-d MiniLM inverter through a map."""
import json

import numpy as np
import pytest

import unembed
from unembed.model.align import AlignConfig, AlignMap
from unembed.audit.defenses import random_orthogonal
from unembed.errors import UnembedError
from conftest import LiveServer, run_cli


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def linear_pairs():
    rng = np.random.default_rng(0)
    x = unit(rng.standard_normal((1200, 32))).astype(np.float32)
    a, b = rng.standard_normal((32, 24)), rng.standard_normal(24) * 0.1
    return x, (x @ a + b).astype(np.float32), a


@pytest.mark.parametrize("method", ["lstsq", "mlp"])
def test_a_known_linear_map_is_recovered_on_unseen_vectors(linear_pairs, method):
    x, y, a = linear_pairs
    amap = AlignMap.fit(x[:1000], y[:1000], AlignConfig(method=method, ridge=1e-8, steps=200))
    assert np.allclose(amap.tensors["weight"].numpy(), a, atol=1e-3)
    mapped = amap(x[1000:])
    assert mapped.shape == (200, 24) and np.allclose(np.linalg.norm(mapped, axis=1), 1, atol=1e-5)
    assert (mapped * unit(y[1000:])).sum(1).min() > 0.999


def test_procrustes_recovers_a_rotation_and_a_scale():
    x = unit(np.random.default_rng(1).standard_normal((300, 16))).astype(np.float32)
    q = random_orthogonal(16, 5)
    amap = AlignMap.fit(x, 3.0 * x @ q, AlignConfig(method="procrustes"))
    assert np.allclose(amap.tensors["weight"].numpy(), 3.0 * q, atol=1e-4)
    assert np.allclose(amap(x), unit(x @ q), atol=1e-4)


def test_the_map_folder_round_trips_and_bad_input_says_why(linear_pairs, tmp_path):
    x, y, _ = linear_pairs
    amap = AlignMap.fit(x[:200], y[:200], info={"source": None, "note": "synthetic"})
    amap.save_pretrained(tmp_path / "map")
    again = AlignMap.from_pretrained(tmp_path / "map")
    assert np.array_equal(again(x[:5]), amap(x[:5])) and again.info["note"] == "synthetic"
    assert json.loads((tmp_path / "map" / "config.json").read_text())["pairs"] == 200
    with pytest.raises(UnembedError, match="takes 32-d vectors"):
        amap(np.ones((2, 31), dtype=np.float32))
    with pytest.raises(UnembedError, match="not an alignment map"):
        AlignMap.from_pretrained(tmp_path)
    with pytest.raises(UnembedError, match="same texts"):
        AlignMap.fit(x[:10], y[:9])
    with pytest.raises(UnembedError, match="unknown alignment method"):
        AlignMap.fit(x[:10], y[:10], AlignConfig(method="cca"))
    with pytest.raises(UnembedError, match="NaN"):
        AlignMap.fit(np.full((3, 32), np.nan), y[:3])


@pytest.fixture(scope="module")
def use_map(tiny_run, tiny_data, tmp_path_factory):
    """A map from USE-multilingual into the tiny model's MiniLM space, made by the CLI."""
    out = tmp_path_factory.mktemp("maps") / "use-to-tiny"
    r = run_cli("align", tiny_data / "train.txt", "--source-encoder", "use-multilingual", "--model",
                tiny_run / "last" / "model", "--out", out, "--ridge", "0.0001", "-q")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["source"]["encoder"] == "use-multilingual" and summary["pairs"] > 40
    return out


def test_another_encoders_vectors_are_inverted_through_the_map(tiny_run, tiny_data, use_map):
    from unembed.encoders import load_encoder
    texts = (tiny_data / "train.txt").read_text().splitlines()
    inverter = unembed.load(tiny_run / "last" / "model", device="cpu")
    use_vectors = load_encoder("use-multilingual").encode(texts)
    with pytest.raises(UnembedError, match="dimension 512"):
        inverter.invert(use_vectors)
    aligned = unembed.load(tiny_run / "last" / "model", device="cpu", align=use_map)
    assert aligned.input_dim == 512 and aligned.encoder.name == "use-multilingual"
    recovered = aligned.invert(use_vectors, steps=8)
    exact = np.mean([r == t for r, t in zip(recovered, texts)])
    assert exact > 0.5, list(zip(recovered, texts))[:3]
    results = aligned.invert_texts(texts[:4])  # embedded by USE, scored in USE's space
    assert all(r["cosine"] > 0.5 for r in results)


@pytest.mark.slow
def test_invert_eval_and_the_api_take_align(tiny_run, tiny_data, use_map):
    model = tiny_run / "last" / "model"
    text = (tiny_data / "train.txt").read_text().splitlines()[0]
    r = run_cli("invert", text, "--model", model, "--align", use_map, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["reconstruction"] == text
    r = run_cli("eval", tiny_data / "train.txt", "--model", model, "--align", use_map, "-q", "--limit", "20")
    assert r.returncode == 0 and json.loads(r.stdout)["token_accuracy"] > 0.5
    r = run_cli("invert", text, "--model", model, "--align", tiny_data)
    assert r.returncode == 2 and "not an alignment map" in r.stderr
    server = LiveServer("--model", f"tiny={model}", "--align", f"tiny={use_map}")
    try:
        import urllib.request

        def post(path, body):
            req = urllib.request.Request(server.url + path, json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    return resp.status, json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                return exc.code, json.loads(exc.read())
        status, embedded = post("/v1/embed", {"texts": [text]})
        assert status == 200 and embedded["dim"] == 512
        status, inverted = post("/v1/invert", {"vectors": embedded["vectors"]})
        assert status == 200 and inverted["texts"] == [text]
        status, error = post("/v1/invert", {"vectors": [[0.1] * 384]})
        assert status == 422 and "512" in error["error"]
        with urllib.request.urlopen(server.url + "/v1/models", timeout=30) as resp:
            described = json.loads(resp.read())
        row = described["models"][0] if isinstance(described, dict) else described[0]
        assert row["dim"] == 512 and row["align"]["source"]["encoder"] == "use-multilingual"
    finally:
        server.stop()
