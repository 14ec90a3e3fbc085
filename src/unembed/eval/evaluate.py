"""Evaluate an inverter on texts: embed, decode, re-embed, score (the round trip is
roundtrip.py's), with the mean of every metric; the CLI's `eval`, the audit and the benches."""
from __future__ import annotations

import logging
import time

import numpy as np

from ..vectors.matryoshka import matryoshka_cut
from . import metrics
from .roundtrip import reference_of, round_trip

logger = logging.getLogger(__name__)


def evaluate(inverter, texts: list[str], steps: int | None = None, batch_size: int = 64,
             show_progress: bool = True, examples: int = 5, vectors: np.ndarray | None = None,
             bleu_tokenize: str = "13a", dim: int = 0, **sampling) -> dict:
    """Mean metrics over `texts` (each truncated to the model's length first). `vectors`:
    their embeddings, if already computed. `dim`: invert their first `dim` components,
    renormalised (a Matryoshka width), and measure the cosine at that width. `invert_seconds`
    times the decoding alone."""
    start = time.perf_counter()
    used = inverter.settings_with(steps=steps, **sampling).decoding
    references = [reference_of(inverter.vocab, t, inverter.max_len) for t in texts]
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


def score(inverter, references: list[str], hypotheses: list[str], targets: np.ndarray | None,
          encoder=None, batch_size: int = 64, bleu_tokenize: str = "13a") -> dict:
    """Every metric of reconstructions against their references (already cut by
    `reference_of`). `targets` (N, D): the vectors they came from, for the cosine of the
    re-embedded reconstruction (None without an encoder)."""
    names = [metrics.recovered_share(r, h, metrics.NAME) for r, h in zip(references, hypotheses)]
    numbers = [metrics.recovered_share(r, h, metrics.NUMBER) for r, h in zip(references, hypotheses)]
    rows = round_trip(inverter.vocab, inverter.max_len, hypotheses, references, encoder, targets, batch_size)
    cosine = floor = None
    if encoder is not None and targets is not None:
        cosine = float(np.mean([row["cosine"] for row in rows]))
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
