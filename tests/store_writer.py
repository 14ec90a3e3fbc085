"""An application that writes a vector store with the store's own client, as a child process:

    python tests/store_writer.py KIND FOLDER VECTORS.npy TEXTS.txt [--stay]

Builds FOLDER (chroma, lancedb, qdrant, faiss or files) from the vectors and texts, prints the
URI unembed reads it by, and with --stay keeps its client open, printing 'ready', until its
standard input closes: an application still running while its store is audited."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def build(kind: str, folder: Path, vectors: np.ndarray, texts: list[str]):
    """-> (URI, the open client or None)."""
    n, dim = vectors.shape
    if kind == "chroma":
        import chromadb
        from chromadb.config import Settings
        from chromadb.utils.embedding_functions import DefaultEmbeddingFunction
        client = chromadb.PersistentClient(str(folder), settings=Settings(anonymized_telemetry=False))
        docs = client.get_or_create_collection("docs", embedding_function=DefaultEmbeddingFunction())
        docs.add(ids=[f"doc-{i}" for i in range(n)], embeddings=vectors, documents=texts)
        return f"chroma:{folder}#docs", client
    if kind == "lancedb":
        import lancedb
        import pyarrow as pa
        db = lancedb.connect(str(folder))
        db.create_table("docs", pa.table({"id": list(range(n)), "text": texts, "embedding":
                                          pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim)}))
        return f"lancedb:{folder}#docs", db
    if kind == "qdrant":
        from qdrant_client import QdrantClient, models
        client = QdrantClient(path=str(folder))  # holds the folder's lock while open
        client.create_collection("docs", vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE))
        client.upsert("docs", points=[models.PointStruct(id=i, vector=v.tolist(), payload={"document": t})
                                      for i, (t, v) in enumerate(zip(texts, vectors))])
        return f"qdrant:{folder}#docs", client
    if kind == "faiss":
        import faiss
        folder.mkdir(parents=True)
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, 4, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.add(vectors)
        faiss.write_index(index, str(folder / "docs.index"))
        (folder / "docs.txt").write_text("\n".join(texts) + "\n")
        return f"faiss:{folder / 'docs.index'}", None
    if kind == "files":
        folder.mkdir(parents=True)
        np.save(folder / "docs.npy", vectors)
        (folder / "docs.txt").write_text("\n".join(texts) + "\n")
        return str(folder / "docs.npy"), None
    raise SystemExit(f"unknown store kind {kind}")


def main() -> None:
    kind, folder, vectors, texts = sys.argv[1:5]
    uri, client = build(kind, Path(folder), np.load(vectors), Path(texts).read_text().splitlines())
    print(uri, flush=True)
    if "--stay" in sys.argv:
        print("ready", flush=True)
        sys.stdin.read()  # until the test closes our input
    if client is not None and hasattr(client, "close"):
        client.close()


if __name__ == "__main__":
    main()
