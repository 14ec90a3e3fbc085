"""The REST API against a real server on a loopback port: shapes, streaming, refusals, load."""
import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from conftest import LiveServer


def call(server, path, body=None, method=None, headers=None, raw=None):
    """(status, parsed JSON or text, headers) of one request."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(server.url + path, data=data, method=method or ("POST" if data else "GET"),
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            status, text, head = r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        status, text, head = e.code, e.read().decode(), e.headers
    try:
        return status, json.loads(text), head
    except json.JSONDecodeError:
        return status, text, head


def sse(text):
    """[(event, data), ...] from a text/event-stream body."""
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((fields["event"], json.loads(fields["data"])))
    return out


@pytest.fixture(scope="module")
def sentences(tiny_data):
    return (tiny_data / "train.txt").read_text().splitlines()[:3]


def test_health_models_and_docs(live_server):
    assert call(live_server, "/health")[1]["status"] == "ok"
    models = {m["name"]: m for m in call(live_server, "/v1/models")[1]["models"]}
    assert set(models) == {"tiny", "en"} and models["tiny"]["default"] and models["en"]["dim"] == 384
    assert {"refine", "correct"} <= set(models["en"]["strategies"])   # en ships its corrector
    assert (models["en"]["encoder_prompt"], models["en"]["encoder_dim"]) == ("document", 0)  # the recipe
    status, page, _ = call(live_server, "/docs")
    assert status == 200 and "swagger" in page.lower()
    paths = call(live_server, "/openapi.json")[1]["paths"]
    assert {"/v1/embed", "/v1/invert", "/v1/invert/stream", "/v1/models", "/health"} <= set(paths)


def test_embed_then_invert_round_trip(live_server, sentences, encoder):
    status, body, _ = call(live_server, "/v1/embed", {"texts": sentences})
    assert status == 200 and np.asarray(body["vectors"]).shape == (3, 384)
    assert np.allclose(body["vectors"], encoder.encode(sentences), atol=1e-5)
    status, body, _ = call(live_server, "/v1/invert", {"vectors": body["vectors"], "steps": 8})
    assert status == 200, body
    assert body["texts"] == sentences and body["encoder_calls"] == [0, 0, 0] and body["model"] == "tiny"
    vectors = encoder.encode(sentences[:1]).tolist()
    status, body, _ = call(live_server, "/v1/invert", {"vectors": vectors, "strategy": "refine", "encoder_budget": 8})
    assert status == 200 and 1 <= body["encoder_calls"][0] <= 8 and body["strategy"] == "refine"


def test_stream_reports_every_step_and_the_final_scores(live_server, sentences):
    status, text, head = call(live_server, "/v1/invert/stream", {"text": sentences[0], "steps": 4})
    assert status == 200 and head["Content-Type"].startswith("text/event-stream")
    events = sse(text)
    kinds = [e for e, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and set(kinds[1:-1]) == {"step"}
    n = events[0][1]["length"]
    steps = [d for e, d in events if e == "step"]
    assert 1 <= len(steps) <= 4 and all(len(s["states"]) == len(s["tokens"]) == n for s in steps)
    assert "masked" in steps[0]["states"] and "masked" not in steps[-1]["states"]
    assert all(s in ("masked", "new", "changed", "kept") for d in steps for s in d["states"])
    assert sum(d["states"].count("new") for d in steps) >= n  # each position revealed at least once
    done = events[-1][1]
    assert done["text"] == sentences[0] and done["token_accuracy"] == 1.0 and done["cosine"] > 0.99
    assert done["warning"] is None
    status, text, _ = call(live_server, "/v1/invert/stream", {"text": "오래된 도서관은 지하에", "steps": 4})
    assert status == 200 and "Hangul" in sse(text)[-1][1]["warning"]  # said, not hidden
    assert "".join(done["tokens"]) == sentences[0] and done["reference_tokens"] == done["tokens"]


def test_stream_of_an_encoder_guided_strategy_reports_each_round(live_server, sentences):
    status, text, _ = call(live_server, "/v1/invert/stream", {"text": sentences[1], "strategy": "refine",
                                                                "encoder_budget": 8, "candidates": 4})
    assert status == 200
    events = sse(text)
    rounds = [d for e, d in events if e == "round"]
    assert [e for e, _ in events][0] == "start" and events[-1][0] == "done" and len(rounds) >= 2
    assert [r["round"] for r in rounds] == list(range(len(rounds))) and rounds[0]["encoder_calls"] <= 4
    assert rounds[0]["written_by"] == "decode" and all(r["written_by"] in ("decode", "steer", "rewrite", "edit")
                                                       for r in rounds)
    assert all(a["cosine"] <= b["cosine"] for a, b in zip(rounds, rounds[1:])) and events[-1][1]["encoder_calls"] <= 8
    assert events[-1][1]["text"] == rounds[-1]["text"]


def test_models_list_the_decoding_options_of_the_sample_config(live_server):
    import dataclasses
    from unembed.sampling.config import DecodeConfig
    models = {m["name"]: m for m in call(live_server, "/v1/models")[1]["models"]}
    assert "correct" not in models["tiny"]["strategies"]   # no corrector ships with it
    schema = call(live_server, "/openapi.json")[1]["components"]["schemas"]["InvertRequest"]["properties"]
    assert {f.name for f in dataclasses.fields(DecodeConfig)} <= set(schema)


@pytest.mark.parametrize("path,body,status,words", [
    ("/v1/invert", {"vectors": [[0.1] * 100]}, 422, "384"),
    ("/v1/invert", {"vectors": [[float("nan")] * 384]}, 422, "NaN"),
    ("/v1/invert", {"vectors": [[0.0] * 384]}, 422, "zeros"),
    ("/v1/invert", {"vectors": [[0.1] * 384] * 17}, 413, "at most 16"),
    ("/v1/invert", {"vectors": [[0.1] * 384], "steps": 0}, 422, "steps"),
    ("/v1/invert", {"vectors": [[0.1] * 384], "strategy": "beam"}, 422, "strategy"),
    ("/v1/invert", {"vectors": [["a"] * 384]}, 422, "vectors"),
    ("/v1/invert", {"vectors": [[0.1] * 384], "stepz": 3}, 422, "stepz"),
    ("/v1/invert", {"vectors": [[0.1] * 384], "model": "nope"}, 404, "GET /v1/models"),
    ("/v1/embed", {"texts": []}, 422, "at least one"),
    ("/v1/embed", {"texts": ["  "]}, 422, "empty"),
    ("/v1/embed", {"texts": ["x" * 2001]}, 413, "2000"),
    ("/v1/invert/stream", {"text": "a text", "strategy": "correct"}, 422, "no corrector"),
    ("/v1/invert", {"vectors": [[0.1] * 384], "encoder_budget": 0}, 422, "budget"),
    ("/v1/invert/stream", {}, 422, "text or vector"),
])
def test_bad_requests_get_a_4xx_that_says_what_to_fix(live_server, path, body, status, words):
    got, answer, _ = call(live_server, path, body)
    assert got == status, answer
    assert isinstance(answer["error"], str) and words in answer["error"]


def test_bodies_too_large_or_not_json_are_refused(live_server):
    status, answer, _ = call(live_server, "/v1/embed", raw=b"x" * 4_000_001)
    assert status == 413 and "bytes" in answer["error"]
    status, answer, _ = call(live_server, "/v1/embed", raw=b"{not json")
    assert status == 422 and answer["error"]


def test_cors_allows_only_the_configured_origin(live_server):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    _, _, head = call(live_server, "/v1/invert", method="OPTIONS", headers={"Origin": "http://example.test", **preflight})
    assert head["access-control-allow-origin"] == "http://example.test"
    _, _, head = call(live_server, "/v1/invert", method="OPTIONS", headers={"Origin": "http://evil.test", **preflight})
    assert head.get("access-control-allow-origin") is None


def test_a_full_server_answers_503_with_retry_after(encoder):
    server = LiveServer("--model", "en", "--max-concurrent", "1")
    try:
        vectors = encoder.encode([f"sentence number {i} about a topic" for i in range(64)]).tolist()
        results = []

        def client():
            results.append(call(server, "/v1/invert", {"vectors": vectors, "steps": 32}))
        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(r[0] for r in results)
        assert set(statuses) <= {200, 503} and 200 in statuses and 503 in statuses, statuses
        busy = next(r for r in results if r[0] == 503)
        assert busy[2]["Retry-After"] == "1" and "retry" in busy[1]["error"]
        assert call(server, "/v1/invert", {"vectors": vectors[:1]})[0] == 200  # the slot came back
    finally:
        server.stop()


def test_the_model_runs_only_on_the_gates_fixed_threads():
    """Many request threads, a few decoding threads: what keeps memory bounded under load
    (lab/server_load.py measures it)."""
    from unembed.server.limits import Gate
    gate, seen = Gate(2), set()

    def request():
        for _ in range(20):
            try:
                seen.add(gate.run(lambda: threading.current_thread().name))
            except Exception:  # busy: a 503 for an HTTP client
                pass

    threads = [threading.Thread(target=request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen and len(seen) <= 2 and all(name.startswith("unembed-decode") for name in seen)


def test_serve_with_a_missing_model_folder_exits_2_with_one_line(tmp_path):
    from conftest import run_cli
    done = run_cli("serve", "--model", tmp_path / "nowhere", "--port", 1, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("unembed: error: model not found")


def test_serve_with_an_unknown_precision_exits_2_with_one_line():
    from conftest import run_cli
    done = run_cli("serve", "--model", "en", "--precision", "fp8", "--port", 1, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("unembed: error: precision must be one of")
