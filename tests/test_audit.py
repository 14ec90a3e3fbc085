"""The leakage audit: the defenses' mathematics, search utility, and an audit on a real small
set with a real encoder and the tiny trained inverter."""
import json

import numpy as np
import pytest

import unembed
from unembed.audit import audit, fragment_queries, parse_defense, parse_defenses, recall_at_k
from unembed.audit.defenses import PCA, Binary, Chain, GaussianNoise, Int8, Rotation, Truncate
from unembed.audit.config import AuditConfig
from unembed.errors import UnembedError
from conftest import run_cli, run_cli_together


def unit_rows(n, d, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_noise_has_the_asked_standard_deviation_and_spares_queries():
    x = unit_rows(4000, 64)
    noise = GaussianNoise(0.05)
    added = noise.store(x, np.random.default_rng(1)) - x
    assert abs(added.std() - 0.05) < 0.001 and abs(added.mean()) < 0.001
    assert np.array_equal(noise.query(x), x)
    assert np.array_equal(GaussianNoise(0.0).store(x, np.random.default_rng(1)), x)


def test_int8_round_trip_is_within_half_a_step_on_256_levels():
    x = unit_rows(500, 32)
    q = Int8().fit(x)
    back = q.query(x)
    assert np.all(np.abs(back - x) <= q.step / 2 + 1e-6)
    codes = q.codes(x)
    assert codes.dtype == np.uint8 and codes.min() == 0 and codes.max() == 255
    assert all(len(np.unique(back[:, j])) <= 256 for j in range(x.shape[1]))
    assert np.array_equal(q.query(back), back)  # quantising twice changes nothing


def test_binary_keeps_signs_as_a_unit_vector():
    x = unit_rows(50, 16)
    b = Binary().query(x)
    assert np.allclose(np.abs(b), 0.25) and np.array_equal(np.sign(b), np.where(x >= 0, 1.0, -1.0))
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0)


def test_rotation_preserves_inner_products_and_depends_on_the_key():
    x, y = unit_rows(40, 24, 0), unit_rows(30, 24, 1)
    r = Rotation(7).fit(x)
    assert np.allclose(r.query(x) @ r.query(y).T, x @ y.T, atol=1e-5)
    assert np.allclose(r.matrix.T @ r.matrix, np.eye(24), atol=1e-5)
    assert np.array_equal(Rotation(7).fit(x).matrix, r.matrix)
    assert not np.allclose(Rotation(8).fit(x).matrix, r.matrix)
    assert not np.allclose(r.query(x), x, atol=0.1)
    assert recall_at_k(r.query(y[:20]), r.query(x[:20]), 3) == recall_at_k(y[:20], x[:20], 3)


def test_pca_at_full_rank_loses_nothing_and_more_components_lose_less():
    x = unit_rows(300, 20)
    full = PCA(20).fit(x)
    assert np.allclose(full.attacker_view(full.query(x)), x, atol=1e-5)
    errors = []
    for k in (2, 5, 10, 15):
        p = PCA(k).fit(x)
        assert p.query(x).shape == (300, k)
        errors.append(np.square(p.attacker_view(p.query(x)) - x).sum())
    assert errors == sorted(errors, reverse=True) and errors[-1] > 0
    with pytest.raises(UnembedError, match="between 1 and"):
        PCA(21).fit(x)


def test_truncation_keeps_a_unit_prefix_and_the_attacker_pads_it():
    x = unit_rows(10, 12)
    t = Truncate(4).fit(x)
    stored = t.query(x)
    assert stored.shape == (10, 4) and np.allclose(np.linalg.norm(stored, axis=1), 1)
    assert np.allclose(stored, x[:, :4] / np.linalg.norm(x[:, :4], axis=1, keepdims=True))
    view = t.attacker_view(stored)
    assert view.shape == (10, 12) and not view[:, 4:].any()


def test_defense_specs_parse_and_combine_and_bad_ones_say_why():
    chain = parse_defense("rotation:3+noise:0.01")
    assert isinstance(chain, Chain) and chain.spec == "rotation:3+noise:0.01"
    x = unit_rows(100, 8)
    chain.fit(x)
    assert np.allclose(chain.query(x), x @ chain.parts[0].matrix, atol=1e-6)  # no noise on queries
    stored = chain.store(x, np.random.default_rng(0))
    assert 0.005 < (stored - chain.query(x)).std() < 0.015
    specs = [d.spec for d in parse_defenses("int8, pca:4+binary,truncate:3")]
    assert specs == ["none", "int8", "pca:4+binary", "truncate:3"]  # the undefended store first
    for bad, message in [("noise", "unknown defense"), ("sha256", "unknown defense"),
                         ("pca:x", "not a number"), ("noise:-1", "0 or more"), ("int8,int8", "twice")]:
        with pytest.raises(UnembedError, match=message):
            parse_defenses(bad)


def test_recall_at_k_counts_a_query_whose_document_is_in_the_top_k():
    docs = np.eye(5, dtype=np.float32)
    assert recall_at_k(docs, docs, 1) == 1.0
    queries = docs[[1, 0, 2, 3, 4]]  # the first two queries point at each other's document
    assert recall_at_k(queries, docs, 1) == 0.6
    assert recall_at_k(0.5 * queries + docs, docs, 1) == 1.0
    assert recall_at_k(queries, docs, 2) == 0.6  # ties (all zero) count against the query


def test_fragment_queries_are_a_contiguous_half_of_each_text():
    texts = ["one two three four five six seven", "short text", "a b c d"]
    queries = fragment_queries(texts, seed=3)
    assert len(queries[0].split()) == 4 and queries[0] in texts[0]
    assert queries[1] == "short text" and len(queries[2].split()) == 2 and queries[2] in texts[2]
    assert fragment_queries(texts, seed=3) == queries


@pytest.fixture(scope="module")
def tiny_audit(tiny_run, tiny_data):
    inverter = unembed.load(tiny_run / "last" / "model", device="cpu")
    texts = (tiny_data / "train.txt").read_text().splitlines()
    cfg = AuditConfig(defenses="none,noise:0.5,rotation,int8", adaptive=True, leaked=0.5,
                      adaptive_steps=20, examples=2)
    return audit(inverter, texts, cfg, show_progress=False)


def test_the_audit_moves_the_right_way_on_a_real_small_set(tiny_audit):
    rows = {r["defense"]: r for r in tiny_audit["defenses"]}
    none, noisy, rotated = rows["none"], rows["noise:0.5"], rows["rotation:0"]
    assert none["attack"]["token_accuracy"] > 0.5           # the tiny model knows these texts
    assert noisy["attack"]["token_accuracy"] < none["attack"]["token_accuracy"] - 0.2
    assert rotated["attack"]["token_accuracy"] < none["attack"]["token_accuracy"] - 0.2
    assert noisy["attack"]["cosine"] < none["attack"]["cosine"]
    assert rotated["recall"] == none["recall"] and rotated["recall_kept"] == 1.0
    assert noisy["recall"] < none["recall"]                  # noise this large hurts search
    assert abs(rows["int8"]["recall"] - none["recall"]) <= 0.05
    # the adaptive attacker keeps its weights only where held-out pairs say they help
    assert none["adaptive"]["token_accuracy"] >= none["attack"]["token_accuracy"] - 0.1
    assert tiny_audit["leaked"] + tiny_audit["attacked"] == tiny_audit["texts"]
    assert all(len(r["examples"]) == 2 and "adaptive" in r["examples"][0] for r in rows.values())


def test_the_default_defenses_work_on_a_collection_smaller_than_a_pca(tiny_run, tiny_data):
    """PCA to 128 directions cannot apply to fewer than 128 vectors: it is skipped and said."""
    from unembed.audit.report import markdown
    inverter = unembed.load(tiny_run / "last" / "model", device="cpu")
    texts = (tiny_data / "train.txt").read_text().splitlines()
    assert 20 <= len(texts) < 128
    report = audit(inverter, texts, AuditConfig(), show_progress=False)
    skipped = {row["defense"]: row["reason"] for row in report["skipped"]}
    assert set(skipped) == {"pca:128", "pca:128+int8"} and "k must be between 1 and" in skipped["pca:128"]
    done = [row["defense"] for row in report["defenses"]]
    assert "pca:32" in done and not set(done) & set(skipped)
    assert "Not applied to this collection: `pca:128`" in markdown(report)


@pytest.mark.slow
def test_audit_cli_writes_markdown_json_and_plot(tiny_run, tiny_data, tmp_path):
    out = tmp_path / "report"
    model = tiny_run / "last" / "model"
    r = run_cli("audit", tiny_data / "train.txt", "--model", model, "--defenses", "binary,pca:8",
                "--out", out, "-q", "--json")
    assert r.returncode == 0, r.stderr
    printed = json.loads(r.stdout)
    assert [d["defense"] for d in printed["defenses"]] == ["none", "binary", "pca:8"]
    assert json.loads((out / "audit.json").read_text())["defenses"] == printed["defenses"]
    page = (out / "audit.md").read_text()
    assert "| `pca:8` |" in page and "tradeoff.png" in page
    assert (out / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = run_cli("audit", tiny_data / "train.txt", "--model", model, "--defenses", "none", "--out", out, "-q")
    assert r.returncode == 0 and "| `none` |" in r.stdout  # an earlier audit folder is replaced


def test_audit_cli_bad_input_is_one_line_and_writes_nothing(tiny_run, tiny_data, tmp_path):
    model = tiny_run / "last" / "model"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    few = tmp_path / "few.txt"
    few.write_text("one text\nanother text\n")
    cases = [(["--defenses", "noise:abc"], "not a number"),
             (["--out", tmp_path / "mine"], "not an earlier audit"),
             (["--adaptive", "true", "--leaked", "0.99"], "leaked"),
             ]
    calls = [["audit", tiny_data / "train.txt", "--model", model, "-q", *extra] for extra, _ in cases]
    calls.append(["audit", few, "--model", model, "-q", "--out", tmp_path / "new"])
    *bad, r = run_cli_together(calls)
    for (_, message), b in zip(cases, bad):
        assert b.returncode == 2 and message in b.stderr and len(b.stderr.strip().splitlines()) == 1, b.stderr
    assert r.returncode == 2 and "at least 20 texts" in r.stderr
    assert not (tmp_path / "new").exists() and (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


@pytest.mark.slow
def test_audit_takes_stored_vectors_or_given_queries(tiny_run, tiny_data, tmp_path, encoder):
    model = tiny_run / "last" / "model"
    texts = (tiny_data / "train.txt").read_text().splitlines()[:30]
    vectors = encoder.encode(texts)
    with open(tmp_path / "store.jsonl", "w") as f:
        for t, v in zip(texts, vectors):
            f.write(json.dumps({"text": t, "vector": v.tolist()}) + "\n")
    r = run_cli("audit", "--vectors", tmp_path / "store.jsonl", "--model", model, "--defenses", "none",
                "-q", "--json")
    assert r.returncode == 0, r.stderr
    stored = json.loads(r.stdout)
    assert stored["texts"] == 30 and stored["defenses"][0]["attack"]["token_accuracy"] > 0.5
    # each document's query is the document after it: search finds few, and says so
    with open(tmp_path / "pairs.jsonl", "w") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"text": t, "query": texts[(i + 1) % len(texts)]}) + "\n")
    r = run_cli("audit", tmp_path / "pairs.jsonl", "--model", model, "--defenses", "none", "-q", "--json")
    assert r.returncode == 0, r.stderr
    given = json.loads(r.stdout)
    assert given["queries"] == "given" and given["defenses"][0]["recall"] < stored["defenses"][0]["recall"]
