"""The on-disk cache that `prepare` writes and training reads.

    folder/
      meta.json                   settings and counts; written last, so it marks completion
      tokenizer.json  vocab.json  decoder vocabulary (compact map over the train split)
      train.txt  heldout.txt      the truncated, re-decoded texts, one per line
      train/00000.ids.npy         (n, max_len) int32 tokenizer ids, -1 = padding
      train/00000.vectors.npy     (n, dim) float32 vectors of exactly those texts
      heldout/...                 the same for the held-out split

Every file is written to a temporary name and renamed, so an interrupted run leaves only
whole shards, and a rerun skips them.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..files import atomic, formats
from ..errors import UnembedError

PAD_ID = -1


def shard_paths(folder: Path, split: str, index: int) -> tuple[Path, Path]:
    base = Path(folder) / split / f"{index:05d}"
    return base.with_suffix(".ids.npy"), base.with_suffix(".vectors.npy")


def write_shard(folder: Path, split: str, index: int, ids: np.ndarray, vectors: np.ndarray):
    ids_path, vec_path = shard_paths(folder, split, index)
    ids_path.parent.mkdir(parents=True, exist_ok=True)
    atomic.save_npy(ids_path, ids.astype(np.int32))
    atomic.save_npy(vec_path, vectors.astype(np.float32))  # written last: marks the shard whole


def shard_done(folder: Path, split: str, index: int) -> bool:
    return all(p.is_file() for p in shard_paths(folder, split, index))


def read_meta(folder: Path) -> dict:
    meta = Path(folder) / "meta.json"
    if not meta.is_file():
        raise UnembedError(f"{folder} is not a finished prepared dataset (no meta.json); "
                           "run `unembed prepare` first")
    values = json.loads(meta.read_text())
    formats.check(values, ("prepared", "corrections"), folder)
    return values


def load_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids (N, max_len) int32, vectors (N, dim) float32) of a split, shards concatenated."""
    meta = read_meta(folder)
    ids, vectors = [], []
    for index in range(meta["shards"][split]):
        ids_path, vec_path = shard_paths(folder, split, index)
        ids.append(np.load(ids_path, mmap_mode="r"))
        vectors.append(np.load(vec_path, mmap_mode="r"))
    if not ids:
        return np.zeros((0, meta["max_len"]), np.int32), np.zeros((0, meta["dim"]), np.float32)
    return np.concatenate(ids), np.concatenate(vectors)
