"""The vector files unembed always read (.npy with a .txt beside it, .jsonl, .parquet), as a
store, so that --store takes them too and samples them the same way."""
from __future__ import annotations

import numpy as np

from ..encoders import read_pairs
from .base import Store


class FileStore(Store):
    kind = "file"

    def __init__(self, path: str, **_):
        self.where = path
        self.texts, self.vectors = read_pairs(path, need_texts=False)

    def count(self) -> int:
        return len(self.vectors)

    def keys(self, limit=None):
        return np.arange(self.count() if limit is None else min(limit, self.count()))

    def fetch(self, keys):
        return [self.texts[int(k)] for k in keys], list(self.vectors[np.asarray(keys, dtype=np.int64)])
