"""Chroma, a persistent folder: `chroma:PATH#collection`.

Chroma has no read-only mode: merely opening a folder with PersistentClient rewrites
`chroma.sqlite3` and the vector segment's `length.bin`, in another process even with no write
call. So the folder is never opened: a consistent private copy of it is (stores/snapshot.py),
which is removed afterwards. That relies on Chroma >= 1.0's layout (one SQLite database and one
folder per segment), the layout the `chroma` extra installs; tests/test_stores.py checks, with
child processes, that every file is byte for byte the same after an audit. The embedding
function a collection was made with is recorded in its configuration since Chroma 1.0;
'default' is Chroma's own ONNX all-MiniLM-L6-v2."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UnembedError
from .base import Store
from .snapshot import FolderCopy

CHROMA_DEFAULT = "all-MiniLM-L6-v2"


class ChromaStore(Store):
    kind = "chroma"

    def __init__(self, path: str, collection: str, **_):
        import chromadb
        from chromadb.config import Settings
        self.where = f"chroma:{path}#{collection}"
        if int(chromadb.__version__.split(".")[0]) < 1:
            raise UnembedError(f"{self.where}: chromadb {chromadb.__version__} is older than the 1.0 this reader "
                               "supports; pip install 'unembed[chroma]'")
        if not (Path(path) / "chroma.sqlite3").is_file():
            raise UnembedError(f"{self.where}: {path} is not a Chroma folder (no chroma.sqlite3 in it)")
        self.copy = FolderCopy(path, self.where)
        try:
            self._open(collection, chromadb, Settings)
        except BaseException:
            self.close()
            raise

    def _open(self, collection: str, chromadb, Settings) -> None:
        self.client = chromadb.PersistentClient(str(self.copy.path), settings=Settings(anonymized_telemetry=False))
        names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        if collection not in names:
            raise UnembedError(f"{self.where}: no collection {collection!r}; it has "
                               f"{', '.join(map(repr, names)) or 'none'}")
        self.collection = self.client.get_collection(collection, embedding_function=None)

    def count(self) -> int:
        return self.collection.count()

    def keys(self, limit=None):
        keys, page = [], 10_000
        while limit is None or len(keys) < limit:
            take = page if limit is None else min(page, limit - len(keys))
            ids = self.collection.get(offset=len(keys), limit=take, include=[])["ids"]
            keys.extend(ids)
            if len(ids) < take:
                break
        return keys

    def fetch(self, keys):
        got = self.collection.get(ids=list(keys), include=["embeddings", "documents"])
        at = {key: i for i, key in enumerate(got["ids"])}  # get(ids=...) need not keep their order
        documents = got.get("documents") or [None] * len(at)
        embeddings = got["embeddings"]
        if embeddings is None:
            raise UnembedError(f"{self.where}: the collection keeps no embeddings")
        return ([documents[at[k]] for k in keys], [np.asarray(embeddings[at[k]]) for k in keys])

    def encoder(self):
        config = getattr(self.collection, "configuration_json", None) or {}  # a dict, as stored
        function = config.get("embedding_function") if isinstance(config, dict) else None
        if not isinstance(function, dict):
            return None
        settings = function.get("config") or {}
        name = settings.get("model_name") or settings.get("model")
        if name:
            return str(name)
        return CHROMA_DEFAULT if function.get("name") == "default" else None

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:  # let go of the copy's files before they are removed
            client.clear_system_cache()
            self.client = None
        self.copy.close()
