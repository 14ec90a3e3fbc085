"""Search utility: does a query still find its own document among the stored vectors?

Without query/document pairs from the user, each document gets a query made from itself: a
contiguous span of half its words at a random place (the inverse cloze task of Lee et al.,
2019, which trains and tests retrievers the same way). The span shares words but not the
whole sentence, so search is not trivial, and a defense that blurs the vectors shows."""
from __future__ import annotations

import math

import numpy as np

from ..vectors.geometry import unit_rows


def fragment_queries(texts: list[str], seed: int = 0) -> list[str]:
    """One query per text: ceil(n/2) consecutive words of its n words (the whole text when n < 4)."""
    rng = np.random.default_rng(seed)
    queries = []
    for text in texts:
        words = text.split()
        if len(words) < 4:
            queries.append(text)
            continue
        size = math.ceil(len(words) / 2)
        start = int(rng.integers(0, len(words) - size + 1))
        queries.append(" ".join(words[start:start + size]))
    return queries


def recall_at_k(queries: np.ndarray, documents: np.ndarray, k: int = 10, batch: int = 1024) -> float:
    """Share of queries (N, d) whose own document (row i of documents (N, d)) is among the k
    documents of highest cosine. Ties count against the query (its document must beat them)."""
    q, d = unit_rows(queries), unit_rows(documents)
    hits = 0
    for start in range(0, len(q), batch):
        scores = q[start:start + batch] @ d.T                              # (b, N)
        rows = np.arange(scores.shape[0])
        own = scores[rows, start + rows]
        better_or_equal = (scores >= own[:, None]).sum(axis=1) - 1         # other docs at least as close
        hits += int((better_or_equal < k).sum())
    return hits / len(q)


__all__ = ["fragment_queries", "recall_at_k"]
