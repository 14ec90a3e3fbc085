"""Black-box vectors: (text, vector) pairs from an API whose model cannot be run, and bare
vectors to invert. Formats: .npy (+ a .txt of the same stem for texts), .jsonl, .parquet."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UnembedError


def check_vectors(vectors: np.ndarray, dim: int | None = None, source: str = "vectors") -> np.ndarray:
    """(N, dim) finite float32, or a one-line UnembedError saying what is wrong."""
    raw = np.asarray(vectors) if not isinstance(vectors, np.ndarray) else vectors
    if raw.dtype.kind == "c":
        raise UnembedError(f"{source}: complex numbers are not embedding vectors; give real values")
    if raw.dtype.kind not in "biuf":
        raise UnembedError(f"{source}: expected numbers, got {raw.dtype} values")
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32's range becomes inf, refused below
        vectors = raw.astype(np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    if vectors.ndim != 2 or 0 in vectors.shape:
        raise UnembedError(f"{source}: expected a non-empty (N, dim) array, got shape {vectors.shape}")
    if dim is not None and vectors.shape[1] != dim:
        raise UnembedError(f"{source}: vectors have dimension {vectors.shape[1]} but the model "
                           f"expects {dim}; use the inverter trained for that encoder")
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        raise UnembedError(f"{source}: row {int(np.argmax(bad))} contains NaN, infinity or a value beyond "
                           "float32's range; remove or recompute it")
    if (np.abs(vectors).max(axis=1) == 0).any():
        raise UnembedError(f"{source}: a vector is all zeros; it carries no text to recover")
    return vectors


def _read_jsonl(path: Path) -> tuple[list[str | None], list]:
    texts, vectors = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise UnembedError(f"{path}:{n}: not valid JSON") from None
            if isinstance(row, dict):
                if "vector" not in row and "embedding" not in row:
                    raise UnembedError(f"{path}:{n}: expected a 'vector' key")
                texts.append(row.get("text"))
                vectors.append(row.get("vector", row.get("embedding")))
            else:
                texts.append(None)
                vectors.append(row)
    try:
        return texts, np.asarray(vectors, dtype=np.float32)
    except ValueError:
        raise UnembedError(f"{path}: vectors have different lengths") from None


def read_vectors(path: str | Path) -> np.ndarray:
    """Vectors to invert: .npy (N, dim) or .jsonl (a list, or {'vector': [...]}, per line)."""
    return read_pairs(path, need_texts=False)[1]


def read_pairs(path: str | Path, need_texts: bool = True) -> tuple[list[str | None], np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise UnembedError(f"file not found: {path}")
    try:
        if path.suffix == ".npy":
            vectors = np.load(path, allow_pickle=False)
            texts_file = path.with_suffix(".txt")
            texts = (texts_file.read_text(encoding="utf-8").splitlines()
                     if texts_file.is_file() else [None] * len(np.atleast_2d(vectors)))
        elif path.suffix == ".jsonl":
            texts, vectors = _read_jsonl(path)
        elif path.suffix == ".parquet":
            import pyarrow.parquet as pq
            table = pq.read_table(path).to_pydict()
            texts = table.get("text", [None] * len(table.get("vector", [])))
            vectors = np.asarray(table["vector"], dtype=np.float32)
        else:
            raise UnembedError(f"{path}: unknown format; use .npy, .jsonl or .parquet")
    except UnembedError:
        raise
    except Exception as exc:  # numpy, json and arrow each fail in their own way on damaged files
        detail = str(exc).splitlines()[0][:160] if str(exc) else "damaged or empty file"
        raise UnembedError(f"cannot read {path}: {type(exc).__name__}: {detail}") from None
    vectors = check_vectors(vectors, source=str(path))
    if len(texts) != len(vectors):
        raise UnembedError(f"{path}: {len(texts)} texts but {len(vectors)} vectors")
    if need_texts and any(not t for t in texts):
        raise UnembedError(f"{path}: every vector needs its text to train on "
                           "(a .txt beside the .npy, or a 'text' key)")
    return list(texts), vectors
