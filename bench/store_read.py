"""How fast `--store` reads each vector store, read-only, and what an audit of a large store costs.

    python bench/store_read.py --n 100000 --sample 1000 --out docs/bench-stores --readme README.md

Builds one store of each kind (Chroma, LanceDB, Qdrant local mode, FAISS IVF-flat, PostgreSQL
with pgvector from pgserver) holding the same --n rows in a temporary folder, then times
reading every row, and reading a seeded --sample of them, as `unembed` reads them (the files
are hashed before and after: a store that changed fails the bench). The rows' texts are
--pool distinct sentences from the docstrings of Python's standard library, embedded by the
default encoder and repeated to fill --n rows (each row keeps its own id). Last, the audit's
wall time: `unembed audit --store CHROMA --sample S --model en`, default defenses. Chroma and
Qdrant local folders are read through a private copy (unembed/stores/snapshot.py): its size and
the time to make it are reported apart, as what reading a large store costs in disk and time.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import pydoc
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from unembed.cli import main as unembed_main
from unembed.stores.config import StoreConfig
from unembed.encoders import load_encoder
from unembed.stores import read_store
from unembed.stores.snapshot import FolderCopy

COPIED = ("chroma", "qdrant")  # the kinds read through a private copy of their folder


def stdlib_sentences(n: int) -> list[str]:
    """Distinct sentences of 6 to 40 words from the standard library's docstrings."""
    seen, out = set(), []
    for name in sorted(sys.stdlib_module_names):
        if name.startswith("_") or name in ("antigravity", "this", "idlelib", "tkinter", "turtle"):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = __import__(name)
        except Exception:
            continue
        for obj in [module, *vars(module).values()]:
            doc = pydoc.getdoc(obj) if callable(obj) or obj is module else ""
            for sentence in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())):
                if 6 <= len(sentence.split()) <= 40 and sentence[:1].isupper() and sentence not in seen:
                    seen.add(sentence)
                    out.append(sentence)
                    if len(out) == n:
                        return out
    return out


def snapshot(folder: Path) -> str:
    digest = hashlib.sha256()
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            digest.update(name.encode())
            digest.update(Path(root, name).read_bytes())
    return digest.hexdigest()


def build(kind: str, root: Path, texts: list[str], vectors: np.ndarray, dsn: str | None) -> str:
    """A store of `kind` holding the rows; -> its URI."""
    n, dim = vectors.shape
    if kind == "chroma":
        import chromadb
        from chromadb.config import Settings
        from chromadb.utils.embedding_functions import DefaultEmbeddingFunction
        client = chromadb.PersistentClient(str(root / "chroma"), settings=Settings(anonymized_telemetry=False))
        docs = client.create_collection("docs", embedding_function=DefaultEmbeddingFunction())
        step = client.get_max_batch_size()
        for s in range(0, n, step):
            docs.add(ids=[f"doc-{i}" for i in range(s, min(n, s + step))], embeddings=vectors[s:s + step],
                     documents=texts[s:s + step])
        return f"chroma:{root / 'chroma'}#docs"
    if kind == "lancedb":
        import lancedb
        import pyarrow as pa
        lancedb.connect(str(root / "lance")).create_table("docs", pa.table({
            "id": np.arange(n), "text": texts,
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim)}))
        return f"lancedb:{root / 'lance'}#docs"
    if kind == "qdrant":
        from qdrant_client import QdrantClient, models
        q = QdrantClient(path=str(root / "qdrant"))
        q.create_collection("docs", vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE))
        for s in range(0, n, 2000):
            q.upload_collection("docs", vectors=vectors[s:s + 2000], payload=[{"text": t} for t in texts[s:s + 2000]],
                                ids=list(range(s, min(n, s + 2000))))
        q.close()
        return f"qdrant:{root / 'qdrant'}#docs"
    if kind == "faiss":
        import faiss
        (root / "faiss").mkdir()
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, 256, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors[:20_000])
        index.add(vectors)
        faiss.write_index(index, str(root / "faiss" / "docs.index"))
        (root / "faiss" / "docs.txt").write_text("\n".join(texts) + "\n")
        return f"faiss:{root / 'faiss' / 'docs.index'}"
    if kind == "pgvector":
        import psycopg
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute(f"CREATE TABLE docs (id bigserial PRIMARY KEY, text text, embedding vector({dim}))")
            with conn.cursor().copy("COPY docs (text, embedding) FROM STDIN") as copy:
                for t, v in zip(texts, vectors):
                    copy.write_row((t, "[" + ",".join(f"{x:.8g}" for x in v) + "]"))
        return f"{dsn}#docs.embedding"
    raise ValueError(kind)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000, help="rows in each store")
    p.add_argument("--sample", type=int, default=1000, help="rows of the sampled read and the audit")
    p.add_argument("--pool", type=int, default=2000, help="distinct texts, repeated to fill the rows")
    p.add_argument("--kinds", nargs="+", default=["chroma", "lancedb", "qdrant", "faiss", "pgvector"])
    p.add_argument("--audit", default="chroma", help="the store kind to audit ('' = no audit)")
    p.add_argument("--model", default="en")
    p.add_argument("--out", default="docs/bench-stores", help="path without extension")
    p.add_argument("--readme", help="README to update between <!-- bench-stores:start/end --> markers")
    args = p.parse_args()
    pool = stdlib_sentences(args.pool)
    print(f"{len(pool)} distinct sentences from the standard library's docstrings", flush=True)
    pool_vectors = load_encoder().encode(pool, show_progress=True)
    rows = np.arange(args.n) % len(pool)
    texts, vectors = [pool[i] for i in rows], pool_vectors[rows]
    results, audit = [], None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = None
        if "pgvector" in args.kinds:
            import pgserver
            server = pgserver.get_server(str(root / "pg"), cleanup_mode="stop")
        try:
            for kind in args.kinds:
                start = time.perf_counter()
                uri = build(kind, root, texts, vectors, server.get_uri() if server else None)
                built = time.perf_counter() - start
                folder = None if kind == "pgvector" else Path(uri.split(":", 1)[1].split("#")[0])
                folder = folder.parent if kind == "faiss" else folder
                before = snapshot(folder) if folder else None
                start = time.perf_counter()
                full = read_store(uri, StoreConfig(), show_progress=False)
                whole = time.perf_counter() - start
                start = time.perf_counter()
                sampled = read_store(uri, StoreConfig(sample=args.sample), show_progress=False)
                part = time.perf_counter() - start
                assert len(full.vectors) == args.n and len(sampled.vectors) == args.sample
                copy = {}
                if kind in COPIED:
                    start = time.perf_counter()
                    with FolderCopy(folder, kind) as made:
                        copy = {"copy_seconds": round(time.perf_counter() - start, 2), "copy_bytes": made.bytes}
                unchanged = (snapshot(folder) == before) if folder else "read-only session"
                if unchanged is False:
                    raise SystemExit(f"{kind}: reading changed the store's files")
                results.append({"store": kind, "rows": args.n, "build_seconds": round(built, 1),
                                "read_all_seconds": round(whole, 2), "vectors_per_second": round(args.n / whole),
                                "sample": args.sample, "read_sample_seconds": round(part, 2),
                                "files_unchanged": unchanged, **copy})
                print(json.dumps(results[-1]), flush=True)
                if kind == args.audit:
                    report = Path(tmp) / "audit"
                    start = time.perf_counter()
                    code = unembed_main(["audit", "--store", uri, "--sample", str(args.sample), "--model", args.model,
                                         "-q", "--out", str(report)])
                    audit = {"store": kind, "rows": args.n, "sample": args.sample, "model": args.model,
                             "exit": code, "wall_seconds": round(time.perf_counter() - start, 1),
                             "defenses": len(json.loads((report / "audit.json").read_text())["defenses"])}
                    print(json.dumps(audit), flush=True)
        finally:
            if server is not None:
                server.cleanup()
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "command": "python bench/store_read.py " + " ".join(sys.argv[1:])}
    Path(args.out + ".json").write_text(json.dumps({**meta, "reads": results, "audit": audit}, indent=1) + "\n")
    if args.readme:
        write_readme(Path(args.readme), meta, results, audit)


def copied(row: dict) -> str:
    if "copy_bytes" not in row:
        return "none"
    return f"{row['copy_bytes'] / 1e6:,.0f} MB in {row['copy_seconds']:.1f} s"


def write_readme(path: Path, meta: dict, results: list[dict], audit: dict | None) -> None:
    lines = [f"Measured by `{meta['command']}` on {meta['date']} ({meta['threads']} CPU threads); "
             "[docs/bench-stores.json](docs/bench-stores.json).", "",
             "| store | rows | read all | vectors/s | read a sample of | private copy | files unchanged |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        lines.append(f"| {r['store']} | {r['rows']:,} | {r['read_all_seconds']:.1f} s | {r['vectors_per_second']:,} | "
                     f"{r['sample']:,} in {r['read_sample_seconds']:.2f} s | {copied(r)} | {r['files_unchanged']} |")
    if audit:
        lines += ["", f"`unembed audit --store` on the {audit['rows']:,}-row {audit['store']} store with "
                      f"`--sample {audit['sample']}` and `--model {audit['model']}` ({audit['defenses']} defenses, "
                      f"the defaults): {audit['wall_seconds']:.0f} s wall."]
    text = path.read_text()
    start, end = "<!-- bench-stores:start -->", "<!-- bench-stores:end -->"
    if start not in text:
        raise SystemExit(f"{path} has no {start} marker")
    head, rest = text.split(start)
    path.write_text(head + start + "\n" + "\n".join(lines) + "\n" + end + rest.split(end)[1])


if __name__ == "__main__":
    main()
