"""FAISS, an index file: `faiss:INDEX`, its texts one per line in index order in INDEX's .txt
(or a .jsonl with a 'text' key) beside it, or in --texts-file.

Only indexes that keep the vectors themselves can give them back: IndexFlat (L2 or inner
product), IndexIVFFlat, IndexHNSWFlat, and IndexIDMap/IDMap2 around one of them. Product and
scalar quantisers (PQ, IVFPQ, SQ), LSH and binary indexes keep lossy codes: refused, since
auditing them would measure the compression rather than the store. LangChain's docstore
(index.pkl) is a pickle, which unembed never loads: export its texts to a .txt."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UnembedError
from .base import Store

EXACT = ("IndexFlat", "IndexFlatL2", "IndexFlatIP", "IndexIVFFlat", "IndexHNSWFlat")


class FaissStore(Store):
    kind = "faiss"

    def __init__(self, path: str, texts: str = "", **_):
        import faiss
        self.where = f"faiss:{path}"
        if not Path(path).is_file():
            raise UnembedError(f"{self.where}: no index file at {path}")
        try:  # memory-mapped: a large index is not copied into memory
            self.outer = faiss.read_index(path, faiss.IO_FLAG_MMAP)
        except Exception as exc:
            raise UnembedError(f"{self.where}: not a FAISS index ({str(exc).splitlines()[-1][:120]})") from None
        # an IDMap owns its inner index: keep the outer one referenced, or the inner is freed
        index = self.outer
        if type(index).__name__ in ("IndexIDMap", "IndexIDMap2"):
            index = faiss.downcast_index(index.index)
        name = type(index).__name__
        if name not in EXACT:
            raise UnembedError(f"{self.where}: an {name} keeps compressed codes, not the vectors it was given; "
                               f"only {', '.join(EXACT)} (or an IDMap of one) give them back")
        if name == "IndexIVFFlat":
            index.make_direct_map()  # in memory only: lets reconstruct() find a vector by position
        self.index = index
        self.texts = self._texts(Path(texts) if texts else None, Path(path))

    def _texts(self, given: Path | None, index: Path) -> list[str] | None:
        candidates = [given] if given else [index.with_suffix(".txt"), index.with_suffix(".jsonl")]
        for path in candidates:
            if path.is_file():
                if path.suffix == ".jsonl":
                    lines = [json.loads(line).get("text") for line in path.read_text(encoding="utf-8").splitlines()
                             if line.strip()]
                else:
                    lines = path.read_text(encoding="utf-8").splitlines()
                if len(lines) != self.index.ntotal:
                    raise UnembedError(f"{path}: {len(lines)} texts for the {self.index.ntotal} vectors of "
                                       f"{index}; give one text per vector, in index order")
                return lines
        if given:
            raise UnembedError(f"--texts-file {given}: file not found")
        return None

    def count(self) -> int:
        return int(self.index.ntotal)

    def keys(self, limit=None):
        return np.arange(self.count() if limit is None else min(limit, self.count()))

    def fetch(self, keys):
        vectors = list(self.index.reconstruct_batch(np.asarray(keys, dtype=np.int64)))
        texts = [self.texts[int(k)] for k in keys] if self.texts is not None else [None] * len(keys)
        return texts, vectors
