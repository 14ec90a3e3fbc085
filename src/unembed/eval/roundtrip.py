"""The round trip every check of an inversion makes: re-embed what was written, compare it
with the vector it came from (at that vector's width: a Matryoshka prefix is compared as one),
and score its tokens against the reference text. `eval`, `Inverter.invert_texts`, the page's
stream and the trainer's held-out check all use it."""
from __future__ import annotations

import numpy as np

from ..vectors.geometry import cosine_rows
from ..vectors.matryoshka import matryoshka_cut
from .metrics import exact_match, token_accuracy, token_f1


def reference_of(vocab, text: str, max_len: int) -> str:
    """What a reconstruction of `text` is scored against: the text up to the end of its
    `max_len`-th token (the most any inverter of that length can write back), in its own
    characters: one the vocabulary cannot write stays, and counts as missed."""
    return vocab.cut(text, max_len)


def score_rows(vocab, max_len: int, references: list[str], hypotheses: list[str]) -> list[dict]:
    """Per text: token accuracy, token F1 and exact match against its reference (already cut by
    `reference_of`), both sides compared on their first `max_len` tokens."""
    ref_ids = [ids[:max_len] for ids in vocab.tokenize(references)]
    hyp_ids = [ids[:max_len] for ids in vocab.tokenize(hypotheses)]
    return [{"token_accuracy": token_accuracy(r, h), "token_f1": token_f1(r, h),
             "exact_match": exact_match(ref, hyp)}
            for r, h, ref, hyp in zip(ref_ids, hyp_ids, references, hypotheses)]


def cosines_back(encoder, targets: np.ndarray, reconstructions: list[str], batch_size: int = 64) -> np.ndarray:
    """The cosine of each reconstruction's embedding to its target vector (N,), at the targets' width."""
    again = encoder.encode([t or " " for t in reconstructions], batch_size=batch_size)
    return cosine_rows(targets, matryoshka_cut(np.asarray(again, dtype=np.float32), np.asarray(targets).shape[1]))


def round_trip(vocab, max_len: int, reconstructions: list[str], references: list[str] | None = None,
               encoder=None, targets: np.ndarray | None = None, batch_size: int = 64) -> list[dict]:
    """Per reconstruction: its cosine back to its target (with an encoder and targets, else
    None) and its token scores against its reference (cut by `reference_of`; with references)."""
    cosines = (cosines_back(encoder, targets, reconstructions, batch_size)
               if encoder is not None and targets is not None else [None] * len(reconstructions))
    scores = score_rows(vocab, max_len, references, reconstructions) if references is not None else \
        [{} for _ in reconstructions]
    return [{"cosine": None if c is None else float(c), **s} for c, s in zip(cosines, scores)]


__all__ = ["cosines_back", "reference_of", "round_trip", "score_rows"]
