"""Metrics for inversion, as pure functions. Token lists are tokenizer ids of the
reference truncated to the model's length, and of the reconstruction."""
from __future__ import annotations

from collections import Counter

import numpy as np


def token_accuracy(reference: list[int], hypothesis: list[int]) -> float:
    """Share of reference positions whose token the hypothesis has at the same position."""
    if not reference:
        return float(not hypothesis)
    return sum(h == r for r, h in zip(reference, hypothesis)) / len(reference)


def token_f1(reference: list[int], hypothesis: list[int]) -> float:
    """F1 of the bags of tokens (multisets), ignoring order."""
    if not reference or not hypothesis:
        return float(reference == hypothesis)
    common = sum((Counter(reference) & Counter(hypothesis)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(hypothesis), common / len(reference)
    return 2 * precision * recall / (precision + recall)


def exact_match(reference: str, hypothesis: str) -> float:
    return float(reference.strip() == hypothesis.strip())


def bleu(references: list[str], hypotheses: list[str]) -> float:
    """Corpus BLEU (sacreBLEU, default 13a tokenisation), 0-100."""
    import sacrebleu
    return float(sacrebleu.corpus_bleu(hypotheses, [references]).score)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of matching rows. (N, D), (N, D) -> (N,)"""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(norms, 1e-12)
