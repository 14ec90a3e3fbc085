"""Qdrant: a local-mode folder (`qdrant:PATH#collection`) or a running server
(`qdrant+http://HOST:PORT#collection`, `qdrant+https://...`).

Points are listed in id order by `scroll` without their vectors, then retrieved by id. Local mode
opens a folder by creating and locking its `.lock` and may migrate its databases, so a folder
is read through a private copy (stores/snapshot.py); a folder whose lock another process holds
(an application has it open, and Qdrant allows one process at a time) is refused. A
collection with named vectors needs --vector-column unless it has one; fastembed's names
(`fast-bge-small-en`) say the encoder. The text is the payload key --text-column, else text,
document, content or page_content."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UnembedError
from .base import Store
from .snapshot import FolderCopy

TEXT_KEYS = ("text", "document", "content", "page_content")


class QdrantStore(Store):
    kind = "qdrant"

    def __init__(self, location: str, collection: str, vector_column: str = "", text_column: str = "", **_):
        from qdrant_client import QdrantClient
        remote = location.startswith(("http://", "https://"))
        self.where = f"qdrant{'+' if remote else ':'}{location}#{collection}"
        if not remote and not (Path(location) / "meta.json").is_file():
            raise UnembedError(f"{self.where}: {location} is not a Qdrant local-mode folder (no meta.json in it)")
        self.copy = None
        if not remote:
            refuse_if_locked(Path(location), self.where)
            self.copy = FolderCopy(location, self.where)
        self.client = None
        try:
            self._open(QdrantClient, location, remote, collection, vector_column, text_column)
        except BaseException:
            self.close()
            raise

    def _open(self, QdrantClient, location, remote, collection, vector_column, text_column) -> None:
        try:
            self.client = QdrantClient(url=location) if remote else QdrantClient(path=str(self.copy.path))
            names = [c.name for c in self.client.get_collections().collections]
        except Exception as exc:  # a server that does not answer, a folder another process holds
            raise UnembedError(f"{self.where}: cannot open it ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:160] if str(exc) else 'no detail'})") from None
        if collection not in names:
            raise UnembedError(f"{self.where}: no collection {collection!r}; it has {', '.join(map(repr, names)) or 'none'}")
        self.collection, self.text_column = collection, text_column
        vectors = self.client.get_collection(collection).config.params.vectors
        self.named = sorted(vectors) if isinstance(vectors, dict) else []
        self.vector_name = vector_column or (self.named[0] if len(self.named) == 1 else None)
        if self.named and self.vector_name not in self.named:
            raise UnembedError(f"{self.where}: it has the named vectors {', '.join(self.named)}; choose one "
                               "with --vector-column")

    def count(self) -> int:
        return self.client.count(self.collection, exact=True).count

    def keys(self, limit=None):
        keys, offset = [], None
        while limit is None or len(keys) < limit:
            take = 10_000 if limit is None else min(10_000, limit - len(keys))
            points, offset = self.client.scroll(self.collection, limit=take, offset=offset,
                                                with_payload=False, with_vectors=False)
            keys.extend(p.id for p in points)
            if offset is None:
                break
        return keys

    def fetch(self, keys):
        points = self.client.retrieve(self.collection, ids=list(keys), with_payload=True,
                                      with_vectors=[self.vector_name] if self.vector_name else True)
        at = {p.id: p for p in points}
        texts, vectors = [], []
        for key in keys:
            point = at[key]
            vector = point.vector[self.vector_name] if isinstance(point.vector, dict) else point.vector
            payload = point.payload or {}
            keys_ = (self.text_column,) if self.text_column else TEXT_KEYS
            texts.append(next((payload[k] for k in keys_ if isinstance(payload.get(k), str)), None))
            vectors.append(np.asarray(vector if vector is not None else [], dtype=np.float32))
        return texts, vectors

    def encoder(self):
        name = self.vector_name or ""
        return name[len("fast-"):] if name.startswith("fast-") else None

    def close(self) -> None:
        if getattr(self, "client", None) is not None:
            self.client.close()
            self.client = None
        if self.copy is not None:
            self.copy.close()


def refuse_if_locked(folder: Path, where: str) -> None:
    """One line, before anything is copied, if another process holds the folder's lock. The
    probe takes a shared lock for an instant on a read-only handle: no byte changes."""
    import fcntl
    lock = folder / ".lock"
    if not lock.is_file():
        return
    with open(lock, "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UnembedError(f"{where}: another process has this Qdrant folder open (its .lock is held), and "
                               "local mode allows one at a time; stop it, or serve the folder with a Qdrant "
                               "server and read qdrant+http://...") from None
        fcntl.flock(f, fcntl.LOCK_UN)
