"""Evaluate an inverter on texts: embed, decode from all-[MASK], re-embed, score. The one rule
for what a reconstruction is scored against (`reference_of`) and the one scorer (`score_rows`,
`score`) serve the CLI, the API's stream, training's evaluation and the audit alike."""
from __future__ import annotations

import logging
import time

import numpy as np

from ..matryoshka import matryoshka_cut
from . import metrics

logger = logging.getLogger(__name__)


def evaluate(inverter, texts: list[str], steps: int | None = None, batch_size: int = 64,
             show_progress: bool = True, examples: int = 5, vectors: np.ndarray | None = None,
             bleu_tokenize: str = "13a", dim: int = 0, **sampling) -> dict:
    """Mean metrics over `texts` (each truncated to the model's length first). `vectors`:
    their embeddings, if already computed. `dim`: invert their first `dim` components,
    renormalised (a Matryoshka width), and measure the cosine at that width. `invert_seconds`
    times the decoding alone."""
    start = time.perf_counter()
    used = inverter.sampling_with(steps=steps, **sampling)
    references = [reference_of(inverter.vocab, t, inverter.model.config.max_len) for t in texts]
    targets = inverter.encoder.encode(references, batch_size=batch_size) if vectors is None else vectors
    targets = matryoshka_cut(np.asarray(targets, dtype=np.float32), dim)
    invert_start = time.perf_counter()
    details = inverter.invert_detailed(targets, batch_size=batch_size, show_progress=show_progress,
                                       steps=steps, **sampling)
    invert_seconds = time.perf_counter() - invert_start
    hypotheses = [d["reconstruction"] for d in details]
    unsupported = [u for u in map(inverter.vocab.unsupported, references) if u]
    if unsupported:
        logger.warning("%d of %d texts hold characters outside the model's vocabulary (%s); they are "
                       "scored as missed", len(unsupported), len(texts),
                       ", ".join(sorted({s for u in unsupported for s in u["scripts"]})))
    return {"n": len(texts), "strategy": used.strategy, "steps": used.steps, "dim": int(targets.shape[1]),
            **score(inverter, references, hypotheses, targets, inverter.encoder, batch_size, bleu_tokenize),
            # texts with characters no model code can write, and those characters' scripts
            "unsupported_texts": len(unsupported),
            "unsupported_scripts": sorted({s for u in unsupported for s in u["scripts"]}),
            "encoder_calls": int(sum(d["encoder_calls"] for d in details)),  # made by the decoder
            "invert_seconds": invert_seconds,
            "seconds": time.perf_counter() - start,
            "examples": [{"reference": r, "reconstruction": h} for r, h in
                         zip(references[:examples], hypotheses[:examples])]}


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
    return [{"token_accuracy": metrics.token_accuracy(r, h), "token_f1": metrics.token_f1(r, h),
             "exact_match": metrics.exact_match(ref, hyp)}
            for r, h, ref, hyp in zip(ref_ids, hyp_ids, references, hypotheses)]


def score(inverter, references: list[str], hypotheses: list[str], targets: np.ndarray | None,
          encoder=None, batch_size: int = 64, bleu_tokenize: str = "13a") -> dict:
    """Every metric of reconstructions against their references (already cut by
    `reference_of`). `targets` (N, D): the vectors they came from, for the cosine of the
    re-embedded reconstruction (None without an encoder)."""
    names = [metrics.recovered_share(r, h, metrics.NAME) for r, h in zip(references, hypotheses)]
    numbers = [metrics.recovered_share(r, h, metrics.NUMBER) for r, h in zip(references, hypotheses)]
    rows = score_rows(inverter.vocab, inverter.model.config.max_len, references, hypotheses)
    cosine = floor = None
    if encoder is not None and targets is not None:
        # a Matryoshka prefix is compared at its own width
        again = matryoshka_cut(encoder.encode(hypotheses, batch_size=batch_size), targets.shape[1])
        cosine = float(np.mean(metrics.cosine_rows(targets, again)))
        floor = metrics.cosine_floor(targets)
    return {
        **{key: float(np.mean([row[key] for row in rows])) for key in ("token_accuracy", "token_f1")},
        "bleu": metrics.bleu(references, hypotheses, bleu_tokenize),
        "exact_match": float(np.mean([row["exact_match"] for row in rows])),
        "cosine": cosine,
        # the mean cosine of unrelated pairs (two different texts' vectors): what the cosine of a
        # reconstruction that recovered nothing is near, high for anisotropic encoders (e5, Gemma)
        "cosine_floor": floor,
        # capitalised words and digit strings of the reference found in the reconstruction,
        # over the texts that have any (how many: the *_texts keys)
        "name_recovery": metrics.mean_defined(names),
        "name_texts": sum(v is not None for v in names),
        "number_recovery": metrics.mean_defined(numbers),
        "number_texts": sum(v is not None for v in numbers),
    }
