"""Vectors read straight from the vector stores people use, read-only:

    stored = read_store("chroma:./db#docs", StoreConfig(sample=1000))   # -> StoredVectors

Each store's client library is an optional dependency (`pip install 'unembed[chroma]'`, ...),
imported only when its URI is used."""
from __future__ import annotations

import importlib.util

from .config import StoreConfig
from ..errors import UnembedError
from .base import Store, StoredVectors, check_fit, choose, read, same_encoder

# URI form -> (what it reads, the extra that installs its client, the modules it needs)
URI_FORMS = {
    "chroma:PATH#collection": ("a Chroma persistent folder", "chroma", ("chromadb",)),
    "lancedb:PATH#table": ("a LanceDB folder (--vector-column, --text-column)", "lancedb", ("lancedb",)),
    "qdrant:PATH#collection": ("a Qdrant local-mode folder", "qdrant", ("qdrant_client",)),
    "qdrant+http://HOST:PORT#collection": ("a running Qdrant server (or qdrant+https://)", "qdrant",
                                           ("qdrant_client",)),
    "faiss:INDEX": ("a FAISS index that keeps its vectors (flat, IVF-flat, HNSW-flat), texts in "
                    "INDEX's .txt beside it or --texts-file", "faiss", ("faiss",)),
    "postgresql://USER@HOST:PORT/DB#table.column": ("PostgreSQL with pgvector (--text-column)",
                                                     "pgvector", ("psycopg",)),
    "FILE.npy | .jsonl | .parquet": ("vectors in a file (a .txt of texts beside a .npy)", None, ()),
}


def _needs(form: str) -> None:
    what, extra, modules = URI_FORMS[form]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise UnembedError(f"reading {what} needs {missing[0]}: pip install 'unembed[{extra}]'")


def _split(uri: str, form: str) -> tuple[str, str]:
    location, _, name = uri.partition("#")
    if not name:
        raise UnembedError(f"{uri}: say which {form.split('#')[1]} to read, after '#' ({form})")
    return location, name


def open_store(uri: str, cfg: StoreConfig | None = None) -> Store:
    """The store a URI names (see URI_FORMS), opened read-only."""
    cfg = (cfg or StoreConfig()).validate()
    options = dict(vector_column=cfg.vector_column, text_column=cfg.text_column, texts=cfg.texts_file)
    scheme = uri.split(":", 1)[0] if ":" in uri else ""
    if scheme == "chroma":
        _needs("chroma:PATH#collection")
        from .chroma import ChromaStore
        return ChromaStore(*_split(uri[len("chroma:"):], "chroma:PATH#collection"), **options)
    if scheme == "lancedb":
        _needs("lancedb:PATH#table")
        from .lance import LanceStore
        return LanceStore(*_split(uri[len("lancedb:"):], "lancedb:PATH#table"), **options)
    if scheme in ("qdrant", "qdrant+http", "qdrant+https"):
        form = "qdrant:PATH#collection" if scheme == "qdrant" else "qdrant+http://HOST:PORT#collection"
        _needs(form)
        from .qdrant import QdrantStore
        return QdrantStore(*_split(uri[len("qdrant:") if scheme == "qdrant" else len("qdrant+"):], form), **options)
    if scheme == "faiss":
        _needs("faiss:INDEX")
        from .faiss_index import FaissStore
        return FaissStore(uri[len("faiss:"):], **options)
    if scheme in ("postgresql", "postgres"):
        form = "postgresql://USER@HOST:PORT/DB#table.column"
        _needs(form)
        from .postgres import PostgresStore
        return PostgresStore(*_split(uri, form), **options)
    if uri.endswith((".npy", ".jsonl", ".parquet")):
        from .files import FileStore
        return FileStore(uri)
    raise UnembedError(f"{uri}: not a store URI; use one of: {', '.join(URI_FORMS)}")


def read_store(uri: str, cfg: StoreConfig | None = None, limit: int = 0,
               show_progress: bool = True) -> StoredVectors:
    """`limit` rows (0 = all), or cfg.sample rows drawn uniformly (seeded), of the store at `uri`."""
    cfg = (cfg or StoreConfig()).validate()
    with open_store(uri, cfg) as store:
        return read(store, uri, limit=limit, sample=cfg.sample, seed=cfg.sample_seed,
                    batch_size=cfg.read_batch, show_progress=show_progress)


__all__ = ["Store", "StoredVectors", "URI_FORMS", "check_fit", "choose", "open_store", "read",
           "read_store", "same_encoder"]
