"""Vector geometry shared by search, defenses, guided decoding and the metrics: unit rows and
row-wise cosine, with one guard against zero vectors."""
from __future__ import annotations

import numpy as np

TINY = 1e-12  # a zero vector stays zero instead of becoming NaN


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1. (N, D) -> (N, D)"""
    x = np.asarray(x)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), TINY)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of matching rows, in float64. (N, D), (N, D) -> (N,)"""
    return (unit_rows(np.asarray(a, dtype=np.float64)) * unit_rows(np.asarray(b, dtype=np.float64))).sum(axis=1)


__all__ = ["unit_rows", "cosine_rows"]
