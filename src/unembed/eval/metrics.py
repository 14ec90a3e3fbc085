"""Metrics for inversion, as pure functions. Token lists are tokenizer ids of the
reference truncated to the model's length, and of the reconstruction."""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

from ..vectors.geometry import cosine_rows  # a metric too; its home is the geometry module

# A capitalised word not opening a sentence (names, places, titles): the start of the
# text or a word after . ! ? is capitalised by grammar, not because it names something.
NAME = re.compile(r"(?<![.!?]\s)(?<![.!?])(?<!^)\b[A-Z][\w'-]*")
CAPITALISED = re.compile(r"\b[A-Z][\w'-]*")     # any capitalised word: where a name may be found
NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*")      # a digit string: 42, 3.14, 2024-05-01, 10:30


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


def bleu(references: list[str], hypotheses: list[str], tokenize: str = "13a") -> float:
    """Corpus BLEU (sacreBLEU; `tokenize`: 13a by default, zh or char for unspaced scripts), 0-100."""
    import sacrebleu
    return float(sacrebleu.corpus_bleu(hypotheses, [references], tokenize=tokenize).score)


def recovered_share(reference: str, hypothesis: str, pattern: re.Pattern) -> float | None:
    """Share of the reference's matches of `pattern` (capitalised words: NAME, digit
    strings: NUMBER) that the hypothesis also holds, counted with multiplicity; None when the
    reference has none, so texts without names do not count as recovering them."""
    wanted = Counter(pattern.findall(reference))
    if not wanted:
        return None
    found = wanted & Counter((CAPITALISED if pattern is NAME else pattern).findall(hypothesis))
    return sum(found.values()) / sum(wanted.values())


def cosine_floor(vectors: np.ndarray, pairs: int = 100_000, seed: int = 0) -> float | None:
    """Mean cosine of unrelated pairs: row i against row j != i of (N, D) vectors of different
    texts; all pairs up to `pairs`, else that many drawn (seeded). None for fewer than 2 rows."""
    n = len(vectors)
    if n < 2:
        return None
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    if n * (n - 1) <= pairs:
        sims = unit @ unit.T
        return float((sims.sum() - np.trace(sims)) / (n * (n - 1)))
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, pairs)
    j = (i + rng.integers(1, n, pairs)) % n  # never i itself
    return float(np.mean(np.sum(unit[i] * unit[j], axis=1)))


def mean_defined(values) -> float | None:
    """Mean over the values that are not None; None if all are."""
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


__all__ = ["NAME", "NUMBER", "CAPITALISED", "bleu", "cosine_floor", "cosine_rows", "exact_match", "mean_defined", "recovered_share",
           "token_accuracy", "token_f1"]
