"""Evaluate an inverter on texts: embed, decode from all-[MASK], re-embed, score."""
from __future__ import annotations

import time

import numpy as np

from . import metrics


def evaluate(inverter, texts: list[str], steps: int | None = None, batch_size: int = 64,
             show_progress: bool = True, examples: int = 5, **sampling) -> dict:
    """Mean metrics over `texts` (each truncated to the model's length first)."""
    start = time.perf_counter()
    L = inverter.model.config.max_len
    references = [inverter.vocab.truncate(t, L)[0].strip() for t in texts]
    results = inverter.invert_texts(references, steps=steps, batch_size=batch_size,
                                    show_progress=show_progress, **sampling)
    hypotheses = [r["reconstruction"] for r in results]
    ref_ids = [ids[:L] for ids in inverter.vocab.tokenize(references)]
    hyp_ids = [ids[:L] for ids in inverter.vocab.tokenize(hypotheses)]
    return {
        "n": len(texts),
        "steps": steps or inverter.sampling.steps,
        "token_accuracy": float(np.mean([r["token_accuracy"] for r in results])),
        "token_f1": float(np.mean([metrics.token_f1(r, h) for r, h in zip(ref_ids, hyp_ids)])),
        "bleu": metrics.bleu(references, hypotheses),
        "exact_match": float(np.mean([metrics.exact_match(r, h) for r, h in zip(references, hypotheses)])),
        "cosine": float(np.mean([r["cosine"] for r in results])),
        "seconds": time.perf_counter() - start,
        "examples": [{"reference": r, "reconstruction": h} for r, h in
                     zip(references[:examples], hypotheses[:examples])],
    }
