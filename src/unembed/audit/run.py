"""`unembed audit`: what an attacker recovers from a store's vectors under each defense, and
what each defense costs search.

For every defense: fit it on the collection, store the documents through it, measure
recall@k of queries against the stored documents, invert what an attacker sees, and score the
reconstructions. With `adaptive`, the attacker also holds a share of the collection as leaked
(text, stored vector) pairs: it maps what it sees back to the clean space (least squares or
Procrustes undo rotations and projections, as ALGEN does) and fine-tunes the inverter on the
mapped leaked pairs, then attacks the rest again. Attack scores are always on the texts not leaked."""
from __future__ import annotations

import logging
import time

import numpy as np
from tqdm.auto import tqdm

from ..model.align import AlignMap
from ..model.config import AlignConfig
from .config import AuditConfig
from ..encoders import check_vectors
from ..errors import UnembedError
from ..eval import score_rows
from ..eval.evaluate import reference_of, score
from ..vectors.geometry import cosine_rows
from ..train.finetune import finetune
from .defenses import Defense, parse_defenses
from .retrieval import fragment_queries, recall_at_k

logger = logging.getLogger(__name__)


def attack(inverter, seen: np.ndarray, references: list[str], clean: np.ndarray, encoder,
           cfg: AuditConfig, batch_size: int) -> tuple[dict, list[str]]:
    """Invert what the attacker sees (N, D) and score against the references and clean vectors."""
    if seen.shape[1] != inverter.input_dim:
        raise UnembedError(f"the attacker sees {seen.shape[1]}-d vectors but the inverter takes "
                           f"{inverter.input_dim}-d ones")
    hypotheses = inverter.invert(seen, steps=cfg.steps, batch_size=batch_size, strategy=cfg.strategy,
                                 encoder_budget=cfg.encoder_budget)
    return score(inverter, references, hypotheses, clean, encoder, batch_size), hypotheses


def choose_map(view: np.ndarray, clean: np.ndarray, seed: int = 0):
    """The adaptive attacker's map from what it sees to the clean space: no map (when the
    dimensions agree), least squares or Procrustes, whichever brings a fifth of the leaked pairs,
    held out, closest to their clean vectors; refitted on all of them. -> AlignMap or None"""
    order = np.random.default_rng(seed).permutation(len(view))
    held, fit = order[:max(1, len(view) // 5)], order[max(1, len(view) // 5):]
    scores = {} if view.shape[1] != clean.shape[1] else {None: cosine_rows(view[held], clean[held]).mean()}
    for method in ("lstsq", "procrustes"):
        amap = AlignMap.fit(view[fit], clean[fit], AlignConfig(method=method))
        scores[method] = cosine_rows(amap(view[held]), clean[held]).mean()
    method = max(scores, key=scores.get)
    return None if method is None else AlignMap.fit(view, clean, AlignConfig(method=method))


def adapt(inverter, view_leaked: np.ndarray, clean_leaked: np.ndarray, leaked_texts: list[str],
          cfg: AuditConfig, desc: str, show_progress: bool = True):
    """The adaptive attacker: a map from its view back to the clean space, and the inverter
    fine-tuned on the mapped leaked pairs. -> (function from views to the tuned inverter's
    inputs, tuned inverter)"""
    amap = choose_map(view_leaked, clean_leaked, cfg.seed)

    def to_model(view: np.ndarray) -> np.ndarray:  # through the inverter's own alignment map, if any
        return inverter.to_model_space(amap(view) if amap is not None else view)
    tuned = finetune(inverter, leaked_texts, to_model(view_leaked), steps=cfg.adaptive_steps,
                     lr=cfg.adaptive_lr, seed=cfg.seed, desc=desc, show_progress=show_progress)
    return to_model, tuned


def audit(inverter, texts: list[str], cfg: AuditConfig | None = None, vectors: np.ndarray | None = None,
          queries: list[str] | None = None, batch_size: int = 64, show_progress: bool = True) -> dict:
    """The audit report as a dict (see `audit/report.py` for its markdown). `vectors` (N, D): the
    stored vectors of `texts` if already made; `queries`: one query text per document, else
    queries are made from the documents (`retrieval.fragment_queries`)."""
    cfg = cfg or AuditConfig()
    start = time.perf_counter()
    defenses = parse_defenses(cfg.defenses)
    texts = [t.strip() for t in texts]
    if any(not t for t in texts):
        raise UnembedError(f"text {[bool(t) for t in texts].index(False) + 1} is empty; every stored "
                           "vector needs its text for the audit")
    if cfg.limit:
        texts, queries = texts[:cfg.limit], queries[:cfg.limit] if queries else None
        vectors = vectors[:cfg.limit] if vectors is not None else None
    if len(texts) < 20:
        raise UnembedError(f"an audit needs at least 20 texts, got {len(texts)}")
    encoder = _encoder_or_none(inverter)
    if vectors is None:
        if encoder is None:
            raise UnembedError("this inverter has no encoder to embed the texts: give the stored "
                               "vectors with --vectors")
        vectors = encoder.encode(texts, batch_size=batch_size, show_progress=show_progress)
    vectors = check_vectors(vectors, inverter.input_dim, "stored vectors")
    if len(vectors) != len(texts):
        raise UnembedError(f"{len(texts)} texts but {len(vectors)} vectors")
    made_queries = queries is None
    queries = fragment_queries(texts, cfg.seed) if made_queries else queries
    query_vectors = (encoder.encode(queries, batch_size=batch_size, show_progress=show_progress)
                     if encoder is not None else None)

    # who is attacked, and what the adaptive attacker holds
    order = np.random.default_rng(cfg.seed).permutation(len(texts))
    n_leaked = int(round(cfg.leaked * len(texts))) if cfg.adaptive else 0
    if cfg.adaptive and not 10 <= n_leaked <= len(texts) - 10:
        raise UnembedError(f"--leaked {cfg.leaked} leaves {n_leaked} leaked and "
                           f"{len(texts) - n_leaked} attacked texts; choose a share that leaves at least 10 of each")
    leaked, victims = np.sort(order[:n_leaked]), np.sort(order[n_leaked:])
    references = [reference_of(inverter.vocab, texts[i], inverter.model.config.max_len) for i in victims]

    # a defense this collection cannot carry (PCA to more directions than it has vectors) is
    # skipped and named in the report, so that the defaults work on any size of collection
    skipped = [{"defense": d.spec, "reason": d.unfit(vectors)} for d in defenses if d.unfit(vectors)]
    for row in skipped:
        logger.warning("skipping the defense %s: %s", row["defense"], row["reason"])
    defenses = [d for d in defenses if not d.unfit(vectors)]
    rows = []
    for defense in tqdm(defenses, desc="audit", unit="defense", disable=not show_progress):
        rows.append(_one_defense(inverter, defense, texts, vectors, query_vectors, references,
                                 leaked, victims, encoder, cfg, batch_size, show_progress))
    baseline = rows[0]["recall"]
    for row in rows:
        row["recall_kept"] = (row["recall"] / baseline if baseline and row["recall"] is not None else None)
    return {
        "encoder": getattr(encoder, "name", None) or inverter.model.config.encoder,
        "dim": int(vectors.shape[1]),
        "texts": len(texts), "attacked": len(victims), "leaked": len(leaked),
        "queries": "fragments (half of each text's words, a contiguous span)" if made_queries else "given",
        "k": cfg.k, "settings": {f: getattr(cfg, f) for f in cfg.__dataclass_fields__},
        "defenses": rows, "skipped": skipped, "seconds": time.perf_counter() - start,
    }


def _one_defense(inverter, defense: Defense, texts, vectors, query_vectors, references, leaked,
                 victims, encoder, cfg: AuditConfig, batch_size: int, show_progress: bool) -> dict:
    rng = np.random.default_rng([cfg.seed, 1])
    defense.fit(vectors)
    stored = defense.store(vectors, rng)
    searched = defense.query(query_vectors) if query_vectors is not None else None
    row = {"defense": defense.spec, "stored_dim": int(stored.shape[1]),
           "recall": recall_at_k(searched, stored, cfg.k) if searched is not None else None,
           "recall_at_1": recall_at_k(searched, stored, 1) if searched is not None else None}
    seen = defense.attacker_view(stored).astype(np.float32)
    row["attack"], hypotheses = attack(inverter, seen[victims], references, vectors[victims], encoder,
                                       cfg, batch_size)
    shown = score_rows(inverter.vocab, inverter.model.config.max_len, references[:cfg.examples],
                       hypotheses[:cfg.examples])
    row["examples"] = [{"reference": r, "reconstruction": h, "token_f1": round(s["token_f1"], 4)}
                       for r, h, s in zip(references, hypotheses, shown)]
    if cfg.adaptive:
        to_model, tuned = adapt(inverter, seen[leaked], vectors[leaked], [texts[i] for i in leaked], cfg,
                                desc=f"adapt to {defense.spec}", show_progress=show_progress)
        row["adaptive"], adapted = attack(tuned, to_model(seen[victims]), references, vectors[victims],
                                          encoder, cfg, batch_size)
        for example, h in zip(row["examples"], adapted):
            example["adaptive"] = h
    return row


def _encoder_or_none(inverter):
    try:
        return inverter.encoder
    except UnembedError as exc:  # black-box vectors: no cosine, and no search without query vectors
        logger.warning("%s: the audit scores text only", exc)
        return None


__all__ = ["audit", "attack", "adapt"]
