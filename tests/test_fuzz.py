"""Property-based: whatever strings, vectors and files come in, the answer is a result or one
clear error, never a traceback or a hang. A fast sample here; `bench/fuzz.py` runs 10,000+."""
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from unembed.encoders import check_vectors, read_pairs
from unembed.errors import UnembedError

# CI runs a fast sample; bench/fuzz.py sets UNEMBED_FUZZ_EXAMPLES for the long run.
FAST = settings(max_examples=int(os.environ.get("UNEMBED_FUZZ_EXAMPLES", 40)), deadline=None,
                suppress_health_check=list(HealthCheck), database=None)
DIM = 384  # the tiny model inverts MiniLM vectors

# --- generators shared with bench/fuzz.py --------------------------------------------------
NASTY_TEXTS = ["", " ", "\t\n ", "\x00", "\ud800", "a\udfffb", "مرحبا بالعالم", "שלום עולם", "😀" * 50,
               "\u202eevil\u202c", "e\u0301" * 30, "x" * 100_000, "\x1b[31mred\x1b[0m", "\r\n" * 40]
texts = st.one_of(st.sampled_from(NASTY_TEXTS), st.text(max_size=300),
                  st.text(alphabet=st.characters(codec="utf-8"), max_size=50))
dtypes = st.sampled_from(["float16", "float32", "float64", "int8", "int64", "uint8", "bool", "complex64"])
arrays = hnp.arrays(dtypes, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)
                    .map(lambda s: s if len(s) < 2 else s[:-1] + (DIM if s[-1] % 2 else s[-1],)),
                    elements=None)


def vectors_like():
    """Mostly the right shape, with NaN, inf, zeros, huge and tiny values mixed in."""
    specials = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1e30, -1e30, 1e-30, 3.4e38])
    values = st.one_of(st.floats(-10, 10, width=32), specials)
    return st.one_of(hnp.arrays(np.float32, st.tuples(st.integers(0, 3), st.just(DIM)), elements=values),
                     hnp.arrays(np.float32, st.tuples(st.integers(1, 2), st.just(DIM)),
                                elements=st.floats(-1, 1, width=32)),
                     arrays)


def check_one_clear_error(exc: UnembedError) -> None:
    message = str(exc)
    assert message and "\n" not in message and "Traceback" not in message


def result_or_one_line(call):
    """call()'s result, or None when it refused with one clear line (anything else fails)."""
    try:
        return call()
    except UnembedError as exc:
        check_one_clear_error(exc)
        return None


# --- Python API ---------------------------------------------------------------------------
@FAST
@given(arrays)
def test_check_vectors_accepts_or_explains(array):
    out = result_or_one_line(lambda: check_vectors(array, dim=DIM))
    if out is None:
        return
    assert out.dtype == np.float32 and out.ndim == 2 and out.shape[1] == DIM
    assert np.isfinite(out).all() and (np.abs(out).sum(axis=1) > 0).all()


@pytest.fixture(scope="module")
def tiny_inverter(tiny_run):
    from unembed.inverter import Inverter
    return Inverter.from_pretrained(str(tiny_run / "last" / "model"), device="cpu")


@FAST
@given(vectors=vectors_like())
def test_invert_any_array_gives_texts_or_one_line(tiny_inverter, vectors):
    out = result_or_one_line(lambda: tiny_inverter.invert(vectors, steps=2))
    if out is not None:
        assert len(out) == len(np.atleast_2d(vectors)) and all(isinstance(t, str) for t in out)


@FAST
@given(batch=st.lists(texts, min_size=1, max_size=3))
def test_invert_texts_any_string_gives_a_result_or_one_line(tiny_inverter, batch):
    out = result_or_one_line(lambda: tiny_inverter.invert_texts(batch, steps=2))
    if out is not None:
        assert len(out) == len(batch) and all(np.isfinite(r["cosine"]) for r in out)


# --- files ----------------------------------------------------------------------------------
@FAST
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".npy", ".jsonl", ".parquet"]))
def test_any_bytes_as_a_vector_file_is_read_or_refused(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("f") / f"v{suffix}"
    path.write_bytes(data)
    out = result_or_one_line(lambda: read_pairs(path, need_texts=False))
    if out is not None:
        assert len(out[0]) == len(out[1]) and np.isfinite(out[1]).all()


@FAST
@given(cut=st.floats(0.0, 0.999))
def test_a_truncated_npy_is_refused(tmp_path_factory, cut):
    path = tmp_path_factory.mktemp("npy") / "v.npy"
    np.save(path, np.ones((4, 8), np.float32))
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * cut)])
    with pytest.raises(UnembedError) as exc:
        read_pairs(path, need_texts=False)
    check_one_clear_error(exc.value)


@FAST
@given(key=st.sampled_from(["hidden", "layers", "heads", "vocab_size", "max_len", "cond_dim", "prefix_tokens",
                            "mlp_ratio", "encoder_path", "lexical_prior"]),
       value=st.one_of(st.integers(-5, 10_000), st.floats(allow_nan=True), st.text(max_size=20), st.none(),
                       st.booleans(), st.lists(st.integers(), max_size=2)))
def test_a_config_that_does_not_fit_the_tensors_is_one_line(tiny_run, tmp_path_factory, key, value):
    import shutil
    from unembed.inverter import Inverter
    folder = shutil.copytree(tiny_run / "last" / "model", tmp_path_factory.mktemp("m") / "model")
    config = json.loads((folder / "config.json").read_text())
    config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
    inverter = result_or_one_line(lambda: Inverter.from_pretrained(str(folder), device="cpu"))
    if inverter is not None:
        assert isinstance(inverter.invert(np.ones((1, DIM), np.float32), steps=1)[0], str)


def test_a_pickle_where_weights_should_be_is_refused_without_being_run(tiny_run, tmp_path):
    import pickle
    import shutil
    from unembed.inverter import Inverter
    folder = shutil.copytree(tiny_run / "last" / "model", tmp_path / "model")
    marker = tmp_path / "ran"

    class Payload:  # unpickling this would create the marker file
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (folder / "model.safetensors").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(UnembedError, match="not a readable safetensors file"):
        Inverter.from_pretrained(str(folder), device="cpu")
    assert not marker.exists()


# --- HTTP API -------------------------------------------------------------------------------
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                                     st.floats(allow_nan=False), texts),
                           lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                   st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"vectors": st.lists(st.lists(st.floats(allow_nan=False, width=32), max_size=3)
                                               .map(lambda r: (r * 200)[:DIM]), max_size=2)},
                          optional={"steps": st.integers(-3, 40), "strategy": texts,
                                    "model": st.sampled_from(["tiny", "en", "nope"])})
    .map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"texts": st.lists(texts, max_size=3)}).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200))
ALLOWED = {200, 400, 404, 413, 422, 429, 503}


def post(server, path, raw):
    import urllib.error
    import urllib.request
    request = urllib.request.Request(server.url + path, data=raw, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@FAST
@given(path=st.sampled_from(["/v1/invert", "/v1/embed", "/v1/invert/stream"]), raw=bodies)
def test_any_request_body_gets_a_documented_status_and_a_json_error(live_server, path, raw):
    status, body = post(live_server, path, raw)
    assert status in ALLOWED, (status, body[:300])
    if status != 200:
        error = json.loads(body)["error"]
        assert isinstance(error, str) and error and "Traceback" not in error


# --- command line ---------------------------------------------------------------------------
argv_texts = texts.filter(lambda t: "\x00" not in t and t.encode("utf-8", "surrogatepass") == t.encode(
    "utf-8", "ignore") and len(t) < 5000)


@pytest.mark.slow
@settings(max_examples=min(int(os.environ.get("UNEMBED_FUZZ_EXAMPLES", 40)) // 8, 25), deadline=None,
          suppress_health_check=list(HealthCheck), database=None)
@given(text=argv_texts, steps=st.integers(-2, 40))
def test_the_cli_answers_any_text_with_a_result_or_one_line(tiny_run, text, steps):
    from conftest import run_cli
    done = run_cli("invert", text, "--model", tiny_run / "last" / "model", "--steps", steps, "--json")
    if done.returncode == 0:
        assert len(json.loads(done.stdout)) == 1
    else:
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("unembed: error:")


def test_an_encoder_folder_that_points_outside_itself_is_refused(tmp_path):
    from unembed.encoders.stand_in import make_stand_in
    folder = make_stand_in("embeddinggemma-300m", tmp_path / "gemma", hidden=16)
    modules = json.loads((folder / "modules.json").read_text())
    for m in modules:
        if m["path"] == "2_Dense":
            m["path"] = "../elsewhere"
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(UnembedError, match="points outside its folder"):
        from unembed.encoders import load_encoder
        load_encoder("embeddinggemma-300m", path=str(folder))
