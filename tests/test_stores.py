"""--store: real stores of each kind (Chroma, LanceDB, Qdrant local mode, FAISS, PostgreSQL with
pgvector from pgserver) holding 200 texts embedded by the default encoder, audited in place."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from itertools import cycle, islice
from pathlib import Path

import numpy as np
import pytest

from conftest import SENTENCES, run_cli_together

# real stores and a real PostgreSQL take ~20 s to build: CI runs these (`-m "slow or not slow"`)
pytestmark = pytest.mark.slow
N = 200


def snapshot(folder) -> dict:
    """Every file under `folder` with the hash of its bytes."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


def cli(capsys, *args) -> tuple[int, str, str]:
    from unembed.cli import main
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def collection(encoder):
    """200 texts (the test sentences, numbered) and their vectors from the default encoder."""
    base = [s for s in SENTENCES.read_text().splitlines() if s.strip()]
    texts = [f"{s.rstrip('.')} (note {i})." for i, s in enumerate(islice(cycle(base), N))]
    return texts, encoder.encode(texts, show_progress=False)


@pytest.fixture(scope="module")
def stores(tmp_path_factory, collection):
    """URI -> folder of one real store of each kind, all holding `collection`."""
    texts, vectors = collection
    root = tmp_path_factory.mktemp("stores")
    made = {}

    import chromadb
    from chromadb.config import Settings
    from chromadb.utils.embedding_functions import DefaultEmbeddingFunction
    client = chromadb.PersistentClient(str(root / "chroma"), settings=Settings(anonymized_telemetry=False))
    docs = client.create_collection("docs", embedding_function=DefaultEmbeddingFunction())  # records MiniLM
    docs.add(ids=[f"doc-{i}" for i in range(N)], embeddings=vectors, documents=texts)
    client.create_collection("empty", embedding_function=None)
    made[f"chroma:{root / 'chroma'}#docs"] = root / "chroma"

    import lancedb
    import pyarrow as pa
    db = lancedb.connect(str(root / "lance"))
    db.create_table("docs", pa.table({"id": list(range(N)), "text": texts,
                                      "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 384)}))
    made[f"lancedb:{root / 'lance'}#docs"] = root / "lance"

    from qdrant_client import QdrantClient, models
    q = QdrantClient(path=str(root / "qdrant"))
    q.create_collection("docs", vectors_config=models.VectorParams(size=384, distance=models.Distance.COSINE))
    q.upsert("docs", points=[models.PointStruct(id=i, vector=v.tolist(), payload={"document": t})
                             for i, (t, v) in enumerate(zip(texts, vectors))])
    q.close()
    made[f"qdrant:{root / 'qdrant'}#docs"] = root / "qdrant"

    import faiss
    (root / "faiss").mkdir()
    quantizer = faiss.IndexFlatIP(384)  # referenced here: the IVF index does not own it
    index = faiss.IndexIVFFlat(quantizer, 384, 4, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors)
    index.add(vectors)
    faiss.write_index(index, str(root / "faiss" / "docs.index"))
    (root / "faiss" / "docs.txt").write_text("\n".join(texts) + "\n")
    pq = faiss.IndexPQ(384, 8, 4)
    pq.train(vectors)
    faiss.write_index(pq, str(root / "faiss" / "pq.index"))
    made[f"faiss:{root / 'faiss' / 'docs.index'}"] = root / "faiss"
    return made


@pytest.fixture(scope="module")
def postgres(tmp_path_factory, collection):
    """A real PostgreSQL server with pgvector (from PyPI's pgserver), holding `collection`."""
    pgserver = pytest.importorskip("pgserver")
    import psycopg
    texts, vectors = collection
    server = pgserver.get_server(str(tmp_path_factory.mktemp("pg")), cleanup_mode="stop")
    uri = server.get_uri()
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("CREATE TABLE docs (id serial PRIMARY KEY, content text, embedding vector(384))")
        conn.execute("CREATE TABLE mixed (id serial PRIMARY KEY, embedding vector)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO docs (content, embedding) VALUES (%s, %s::vector)",
                            [(t, str(v.tolist())) for t, v in zip(texts, vectors)])
            cur.executemany("INSERT INTO mixed (embedding) VALUES (%s::vector)", [("[1,2,3]",), ("[1,2]",)])
    yield uri
    server.cleanup()


def figures(report: dict) -> dict:
    row = report["defenses"][0]
    return {"recall": row["recall"], **{k: v for k, v in row["attack"].items() if k != "cosine"},
            "cosine": round(row["attack"]["cosine"], 4)}


def test_every_store_reads_back_what_was_stored_in_order(stores, postgres, collection):
    from unembed.stores.config import StoreConfig
    from unembed.stores import read_store
    texts, vectors = collection
    for uri in [*stores, f"{postgres}#docs.embedding"]:
        stored = read_store(uri, StoreConfig(), show_progress=False)
        assert stored.texts == texts, uri
        np.testing.assert_allclose(stored.vectors, vectors, atol=1e-6, err_msg=uri)
        sample = read_store(uri, StoreConfig(sample=50, sample_seed=3), show_progress=False)
        drawn = np.random.default_rng(3).permutation(N)[:50]  # uniform, seeded, in draw order
        assert sample.sampled and sample.texts == [texts[i] for i in drawn], uri
        first = read_store(uri, StoreConfig(read_batch=7), limit=30, show_progress=False)
        assert first.texts == texts[:30] and first.rows_in_store == N, uri


def test_audit_of_each_store_equals_the_audit_of_its_vectors_as_npy(stores, postgres, collection, tiny_run,
                                                                   tmp_path, capsys):
    texts, vectors = collection
    np.save(tmp_path / "docs.npy", vectors)
    (tmp_path / "docs.txt").write_text("\n".join(texts) + "\n")
    model = tiny_run / "last" / "model"
    common = ["--model", model, "--defenses", "none", "-q", "--json"]
    code, out, err = cli(capsys, "audit", "--vectors", tmp_path / "docs.npy", *common)
    assert code == 0, err
    expected = figures(json.loads(out))
    assert expected["token_accuracy"] > 0
    before = {uri: snapshot(folder) for uri, folder in stores.items()}
    for uri in [*stores, f"{postgres}#docs.embedding"]:
        code, out, err = cli(capsys, "audit", "--store", uri, *common)
        assert code == 0, f"{uri}: {err}"
        report = json.loads(out)
        assert report["texts"] == N and report["store"]["rows_read"] == N, uri
        assert figures(report) == expected, uri
    for uri, folder in stores.items():  # never written: every file byte for byte as before
        assert snapshot(folder) == before[uri], uri
    assert json.loads(out)["source"].endswith("#docs.embedding")


def test_the_encoder_the_store_records_is_read_and_checked(stores, tiny_run, capsys):
    from unembed.stores.config import StoreConfig
    from unembed.stores import read_store
    chroma = next(uri for uri in stores if uri.startswith("chroma:"))
    assert read_store(chroma, StoreConfig(), limit=5, show_progress=False).encoder == "all-MiniLM-L6-v2"
    code, _, err = cli(capsys, "invert", "--store", chroma, "--model", tiny_run / "last" / "model",
                       "--encoder", "intfloat/multilingual-e5-small", "--limit", "5", "-q")
    assert code == 2 and "multilingual-e5-small" in err and "align" in err and len(err.strip().splitlines()) == 1
    code, out, err = cli(capsys, "invert", "--store", chroma, "--model", tiny_run / "last" / "model",
                         "--limit", "5", "-q")
    assert code == 0 and len(out.strip().splitlines()) == 5, err


def test_postgres_session_cannot_write(postgres):
    import psycopg
    from unembed.stores.config import StoreConfig
    from unembed.stores import open_store
    with open_store(f"{postgres}#docs.embedding", StoreConfig()) as store:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            store.conn.execute("DELETE FROM docs")
    with psycopg.connect(postgres) as conn:
        assert conn.execute("SELECT count(*) FROM docs").fetchone()[0] == N


def test_bad_stores_fail_in_one_line_with_exit_2(stores, postgres, tiny_run, tmp_path, capsys):
    chroma = next(uri for uri in stores if uri.startswith("chroma:"))
    faiss_uri = next(uri for uri in stores if uri.startswith("faiss:"))
    folder = stores[chroma]
    np.save(tmp_path / "narrow.npy", np.random.default_rng(0).normal(size=(30, 16)).astype(np.float32))
    cases = [
        (str(tmp_path / "narrow.npy"), "16 dimensions"),  # another encoder's width: align is suggested
        (f"chroma:{tmp_path / 'nowhere'}#docs", "not a Chroma folder"),
        (chroma.replace("#docs", "#nope"), "no collection 'nope'"),
        (chroma.replace("#docs", "#empty"), "empty"),
        (f"chroma:{folder}", "after '#'"),
        (f"{postgres}#mixed.embedding", "mixed widths"),
        (f"{postgres}#docs.nope", "no column 'nope'"),
        (f"{postgres}#nope.embedding", "no table"),
        (f"{postgres}#docs.content", "not a pgvector"),
        (faiss_uri.replace("docs.index", "pq.index"), "compressed codes"),
        (f"lancedb:{tmp_path}#docs", "no table 'docs'"),
        (f"qdrant:{tmp_path}#docs", "not a Qdrant"),
        ("pinecone:docs", "not a store URI"),
    ]
    for uri, message in cases:
        code, _, err = cli(capsys, "invert", "--store", uri, "--model", tiny_run / "last" / "model", "-q")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (uri, err)
    code, _, err = cli(capsys, "audit", "--store", faiss_uri, "--texts-file", tmp_path / "none.txt",
                       "--model", tiny_run / "last" / "model", "-q")
    assert code == 2 and "not found" in err


def test_eval_and_align_read_the_store_too(stores, collection, tiny_run, tmp_path, capsys):
    texts, vectors = collection
    lance = next(uri for uri in stores if uri.startswith("lancedb:"))
    model = tiny_run / "last" / "model"
    code, out, err = cli(capsys, "eval", "--store", lance, "--model", model, "--sample", "40", "-q")
    assert code == 0, err
    result = json.loads(out)
    assert result["n"] == 40 and result["store"]["sampled"] and result["store"]["rows_in_store"] == N
    assert result["token_accuracy"] > 0 and result["cosine"] > 0
    # the store's vectors as another encoder's: a map into the model's own space, fitted on them
    code, out, err = cli(capsys, "align", "--store", lance, "--model", model, "--out", tmp_path / "map",
                         "--encoder", "all-MiniLM-L6-v2", "--method", "procrustes", "-q")
    assert code == 0, err
    fitted = json.loads(out)
    assert fitted["source"] == {"encoder": "all-MiniLM-L6-v2"} and fitted["heldout_cosine"] > 0.99


# --- never written, proven the way users run it: the store built by one process, audited by others

WRITER = Path(__file__).parent / "store_writer.py"
KINDS = ("chroma", "lancedb", "qdrant", "faiss", "files")


def write_store(kind: str, folder: Path, source: Path, stay: bool = False) -> tuple[str, subprocess.Popen]:
    """The store built by a child process with the store's own client; -> (URI, that process).
    With `stay` the process keeps its client open until its standard input is closed."""
    child = subprocess.Popen([sys.executable, str(WRITER), kind, str(folder), str(source / "docs.npy"),
                              str(source / "docs.txt"), *(["--stay"] if stay else [])],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    uri = child.stdout.readline().strip()
    if stay:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
    else:
        child.communicate(timeout=120)
        assert child.returncode == 0, child.stderr
    assert uri, child.stderr.read() if stay else ""
    return uri, child


@pytest.fixture(scope="module")
def source(tmp_path_factory, collection):
    texts, vectors = collection
    folder = tmp_path_factory.mktemp("source")
    np.save(folder / "docs.npy", vectors)
    (folder / "docs.txt").write_text("\n".join(texts) + "\n")
    return folder


def reads_of(uri: str, model: Path, out: Path) -> list[list]:
    return [["audit", "--store", uri, "--model", model, "--defenses", "none", "-q", "--json", "--out", out],
            ["invert", "--store", uri, "--model", model, "--limit", "5", "-q"]]


def test_no_store_file_changes_when_other_processes_audit_and_invert_it(source, tiny_run, tmp_path):
    model = tiny_run / "last" / "model"
    built = {kind: write_store(kind, tmp_path / kind, source)[0] for kind in KINDS}
    folders = {kind: tmp_path / kind for kind in KINDS}
    before = {kind: snapshot(folder) for kind, folder in folders.items()}
    assert all(before.values())
    calls = [call for kind, uri in built.items() for call in reads_of(uri, model, tmp_path / f"audit-{kind}")]
    for call, done in zip(calls, run_cli_together(calls)):
        assert done.returncode == 0, (call, done.stderr[-2000:])
        if call[0] == "audit":
            assert json.loads(done.stdout)["store"]["rows_read"] == N, call
        else:
            assert len(done.stdout.strip().splitlines()) == 5, call
    for kind, folder in folders.items():
        assert snapshot(folder) == before[kind], f"{kind}: a file was written, added or removed"


def test_a_store_whose_application_is_still_running_is_read_without_a_write(source, tiny_run, tmp_path):
    """Chroma and LanceDB let another process read while their writer is open; Qdrant's local
    mode holds a lock, and the reader refuses in one line rather than touch the folder."""
    model = tiny_run / "last" / "model"
    running = {kind: write_store(kind, tmp_path / kind, source, stay=True) for kind in ("chroma", "lancedb", "qdrant")}
    try:
        before = {kind: snapshot(tmp_path / kind) for kind in running}
        calls = [reads_of(uri, model, tmp_path / f"audit-{kind}")[0] for kind, (uri, _) in running.items()]
        results = dict(zip(running, run_cli_together(calls)))
        for kind in ("chroma", "lancedb"):
            assert results[kind].returncode == 0, results[kind].stderr[-2000:]
            assert json.loads(results[kind].stdout)["texts"] == N
        refused = results["qdrant"]
        assert refused.returncode == 2 and "another process" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        for kind in running:
            assert snapshot(tmp_path / kind) == before[kind], f"{kind}: a file was written while its writer ran"
    finally:
        for _, child in running.values():
            child.communicate(timeout=60)  # closing stdin lets each writer close its client
    assert all(child.returncode == 0 for _, child in running.values())


def test_the_private_copy_is_removed_on_sigterm_and_after_a_kill(source, tmp_path):
    uri, _ = write_store("chroma", tmp_path / "chroma", source)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    hold = ("import sys, time\nfrom unembed.cli import _terminate_like_interrupt\n"
            "from unembed.stores import open_store\n_terminate_like_interrupt()\n"
            "try:\n    with open_store(sys.argv[1]) as store:\n        print(store.count(), flush=True)\n"
            "        time.sleep(120)\nexcept KeyboardInterrupt:\n    sys.exit(130)\n")
    env = {**os.environ, "TMPDIR": str(scratch)}
    for sig, left in ((signal.SIGTERM, 0), (signal.SIGKILL, 1)):
        child = subprocess.Popen([sys.executable, "-c", hold, uri], stdout=subprocess.PIPE, text=True, env=env)
        assert child.stdout.readline().strip() == str(N)
        assert len(list(scratch.glob("unembed-store-*"))) == 1  # the copy it reads
        child.send_signal(sig)
        child.wait(timeout=60)
        assert len(list(scratch.glob("unembed-store-*"))) == left, sig
    from unembed.stores.snapshot import remove_orphans  # the next reader clears a killed one's copy
    remove_orphans(scratch)
    assert not list(scratch.glob("unembed-store-*"))


def test_postgres_audit_leaves_nothing_behind_on_the_server(postgres, tiny_run, tmp_path):
    import psycopg
    catalog = ("SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
               "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1, 2")

    def state():
        with psycopg.connect(postgres) as conn:
            return (conn.execute(catalog).fetchall(), conn.execute("SELECT extname FROM pg_extension").fetchall(),
                    conn.execute("SELECT md5(string_agg(content || embedding::text, '|' ORDER BY id)) FROM docs")
                    .fetchone())
    before = state()
    done = run_cli_together(reads_of(f"{postgres}#docs.embedding", tiny_run / "last" / "model", tmp_path / "a"))
    assert all(d.returncode == 0 for d in done), [d.stderr[-1000:] for d in done]
    assert state() == before
