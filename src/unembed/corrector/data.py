"""`unembed corrections`: what a corrector learns from. For each text of a prepared dataset,
the base inverter's own hypotheses (greedy and sampled), corrupted copies of the text
(substitutions, deletions, insertions, swaps at rates from a few percent to most of it) and,
with `searched`, every text `correct`'s own search embeds (the corrector's and the steers'
later-round outputs), each embedded with the encoder: (reference, target vector, hypothesis,
hypothesis vector).

    folder/
      meta.json                    settings and counts; written last, so it marks completion
      tokenizer.json  vocab.json   the base inverter's vocabulary: every code below is in it
      train/00000.refs.npy         (k, L) int64 reference codes, PAD after the text
      train/00000.targets.npy      (k, D) float32 the references' vectors
      train/00000.hyps.npy         (n, L) int64 hypothesis codes
      train/00000.source.npy       (n,) int32 the reference (row of this shard) of each hypothesis
      train/00000.kinds.npy        (n,) int8 KINDS index: how the hypothesis was made
      train/00000.hyp_vectors.npy  (n, D) float16 the hypotheses' embeddings; written last
      heldout/...                  the same for the last texts of the held-out split

Shards are written whole or not at all (cache's atomic writes), so a rerun resumes.
"""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .config import CorrectionsConfig
from ..config import to_dict
from ..errors import UnembedError
from ..text.codes import PAD, SPECIALS
from ..files import atomic, formats
from ..data import cache

logger = logging.getLogger(__name__)
KINDS = ("greedy", "sampled", "corrupted", "searched")
PARTS = ("refs", "targets", "hyps", "source", "kinds", "hyp_vectors")  # the last marks a whole shard


def corrupt(codes: list[int], rate: float, unigram: np.ndarray, rng: np.random.Generator,
            max_len: int) -> list[int]:
    """A copy of `codes` where each token, with probability `rate`, is substituted (a token
    drawn from `unigram`, probabilities over codes), deleted, followed by an inserted token, or
    swapped with the next; at most `max_len` tokens, at least one."""
    out, i = [], 0
    while i < len(codes):
        token = codes[i]
        if rng.random() >= rate:
            out.append(token)
        else:
            op = rng.integers(4)
            if op == 0:
                out.append(int(rng.choice(len(unigram), p=unigram)))
            elif op == 2:
                out += [token, int(rng.choice(len(unigram), p=unigram))]
            elif op == 3 and i + 1 < len(codes):
                out += [codes[i + 1], token]
                i += 1
            # op == 1: deleted
        i += 1
    out = out[:max_len]
    return out or [int(rng.choice(len(unigram), p=unigram))]


def _pad(rows: list[list[int]], width: int) -> np.ndarray:
    out = np.full((len(rows), width), PAD, dtype=np.int64)
    for r, row in enumerate(rows):
        out[r, :len(row)] = row[:width]
    return out


def _shard(inverter, encoder, cfg: CorrectionsConfig, refs: np.ndarray, targets: np.ndarray,
           unigram: np.ndarray, rng: np.random.Generator, bar) -> dict[str, np.ndarray]:
    """Hypotheses of one shard of texts and their embeddings."""
    L = inverter.model.config.max_len
    hyps, source, kinds = [], [], []
    embedded: dict[int, np.ndarray] = {}   # hypothesis index -> its embedding, where the search made one
    greedy = replace(inverter.decoding, strategy="confidence", steps=cfg.steps)
    plans = [("greedy", greedy)]
    plans += [("sampled", replace(greedy, strategy="euler", temperature=cfg.temperature,
                                  seed=int(rng.integers(1 << 30)) + k)) for k in range(cfg.sampled)]
    for kind, sampling in plans:
        for start in range(0, len(refs), cfg.batch_size):
            v = torch.from_numpy(targets[start:start + cfg.batch_size]).to(inverter.device)
            codes = inverter.generate(v, sampling).cpu().numpy()
            hyps += [row[row != PAD].tolist() for row in codes]
            source += range(start, start + len(v))
            kinds += [KINDS.index(kind)] * len(v)
            bar.update(len(v))
    if cfg.searched:   # what `correct` itself visits: later rounds' texts, already embedded
        made = set(zip(source, map(tuple, hyps)))
        search = inverter.settings_with(strategy="correct", encoder_budget=cfg.searched, steps=cfg.steps,
                                        seed=int(rng.integers(1 << 30)))
        for start in range(0, len(refs), cfg.batch_size):
            v = torch.from_numpy(targets[start:start + cfg.batch_size]).to(inverter.device)
            population = inverter.searcher(search, encoder).search(v)
            for b, seen in enumerate(population.seen):
                for candidate in seen.values():
                    if (start + b, tuple(candidate.codes)) not in made:
                        hyps.append(candidate.codes)
                        source.append(start + b)
                        kinds.append(KINDS.index("searched"))
                        embedded[len(hyps) - 1] = candidate.embedding
            bar.update(len(v) * cfg.searched)
    for _ in range(cfg.corrupted):
        for r, row in enumerate(refs):
            rate = float(np.exp(rng.uniform(np.log(cfg.min_rate), np.log(cfg.max_rate))))
            hyps.append(corrupt(row[row != PAD].tolist(), rate, unigram, rng, L))
            source.append(r)
            kinds.append(KINDS.index("corrupted"))
        bar.update(len(refs))
    todo = [i for i in range(len(hyps)) if i not in embedded]
    if todo:
        fresh = encoder.encode([inverter.vocab.decode(hyps[i]) or " " for i in todo], batch_size=cfg.batch_size)
        embedded.update(zip(todo, np.asarray(fresh, dtype=np.float32)))
    vectors = np.stack([embedded[i] for i in range(len(hyps))])
    return {"refs": refs, "targets": targets.astype(np.float32), "hyps": _pad(hyps, L),
            "source": np.asarray(source, dtype=np.int32), "kinds": np.asarray(kinds, dtype=np.int8),
            "hyp_vectors": np.asarray(vectors, dtype=np.float16)}


def make_corrections(data: str | Path, inverter, out: str | Path, cfg: CorrectionsConfig,
                     encoder=None, show_progress: bool = True) -> Path:
    """Write (or finish writing) a corrections folder from a prepared dataset `data`, with the
    base `inverter`'s hypotheses; returns the folder."""
    try:
        cfg.validate()
    except ValueError as exc:
        raise UnembedError(str(exc)) from None
    data, folder = Path(data), Path(out)
    meta = cache.read_meta(data)
    if meta["dim"] != inverter.model.config.cond_dim:
        raise UnembedError(f"{data} holds {meta['dim']}-d vectors but the inverter reads "
                           f"{inverter.model.config.cond_dim}-d ones")
    encoder = encoder if encoder is not None else inverter.own_encoder
    if cfg.searched:   # the search needs the corrector its proposals name: say so before any work
        inverter.searcher(inverter.settings_with(strategy="correct", encoder_budget=cfg.searched), encoder)
    settings = {"config": to_dict(cfg), "data": str(data), "base": inverter.model.config.encoder}
    plan = folder / "plan.json"
    if plan.is_file() and json.loads(plan.read_text()) != settings:
        raise UnembedError(f"{folder} holds corrections made with other settings; choose another --out "
                           "or delete that folder")
    L = inverter.model.config.max_len
    splits = {}
    for split, count, from_end in (("train", cfg.texts, False), ("heldout", cfg.heldout, True)):
        texts = (data / f"{split}.txt").read_text(encoding="utf-8").splitlines()
        _, vectors = cache.load_split(data, split)
        rows = np.arange(len(texts))
        if count:
            rows = rows[-count:] if from_end else rows[:count]
        splits[split] = (inverter.vocab.encode([texts[i] for i in rows], L), np.asarray(vectors[rows]))
    refs = splits["train"][0]
    counts = np.bincount(refs[refs >= len(SPECIALS)], minlength=len(inverter.vocab)).astype(np.float64)
    unigram = counts / counts.sum()  # substitutions and insertions draw corpus-frequent tokens
    folder.mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(plan, json.dumps(settings, indent=2).encode())
    inverter.vocab.save(folder)
    per_text = 1 + cfg.sampled + cfg.corrupted + cfg.searched   # at most: the search's repeats are dropped
    shards = {}
    for split, (refs, targets) in splits.items():
        n_shards = (len(refs) + cfg.shard_size - 1) // cfg.shard_size
        shards[split] = n_shards
        todo = [i for i in range(n_shards) if not _done(folder, split, i)]
        total = sum(min(cfg.shard_size, len(refs) - i * cfg.shard_size) for i in todo) * per_text
        with tqdm(total=total, desc=f"corrections {split}", unit="hyp", disable=not show_progress or not total) as bar:
            for i in todo:
                part = slice(i * cfg.shard_size, (i + 1) * cfg.shard_size)
                rng = np.random.default_rng([cfg.seed, i, split == "heldout"])
                arrays = _shard(inverter, encoder, cfg, refs[part], targets[part], unigram, rng, bar)
                for name in PARTS:  # hyp_vectors last: it marks the shard whole
                    path = _path(folder, split, i, name)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    atomic.save_npy(path, arrays[name])
    counts = {s: int(len(splits[s][0])) for s in splits}
    atomic.write_bytes(folder / "meta.json", json.dumps(
        {**formats.header("corrections"), "kind": "corrections", "max_len": L, "dim": meta["dim"], "counts": counts, "shards": shards,
         "hypotheses_per_text": per_text, "kinds": list(KINDS), "config": to_dict(cfg), "data": str(data),
         **{k: meta[k] for k in meta if k.startswith("encoder")}}, indent=2).encode())
    logger.info("corrections in %s: %s texts, %d hypotheses each", folder, counts, per_text)
    return folder


def _path(folder: Path, split: str, index: int, name: str) -> Path:
    return Path(folder) / split / f"{index:05d}.{name}.npy"


def _done(folder: Path, split: str, index: int) -> bool:
    return all(_path(folder, split, index, name).is_file() for name in PARTS)


def is_corrections(folder: str | Path) -> bool:
    meta = Path(folder) / "meta.json"
    return meta.is_file() and json.loads(meta.read_text()).get("kind") == "corrections"


def load_corrections(folder: str | Path, split: str, kinds: tuple[str, ...] = KINDS) -> dict[str, np.ndarray]:
    """A split's shards concatenated, keeping hypotheses of the given `kinds`: refs (K, L),
    targets (K, D), hyps (N, L), source (N,) indexing refs, kinds (N,), hyp_vectors (N, D)."""
    meta = cache.read_meta(Path(folder))
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise UnembedError(f"unknown hypothesis kinds {sorted(unknown)}; choose from {', '.join(KINDS)}")
    parts = {name: [] for name in PARTS}
    offset = 0
    for i in range(meta["shards"][split]):
        for name in PARTS:
            parts[name].append(np.load(_path(folder, split, i, name)))
        parts["source"][-1] = parts["source"][-1].astype(np.int64) + offset
        offset += len(parts["refs"][-1])
    out = {name: np.concatenate(arrays) for name, arrays in parts.items()}
    keep = np.isin(out["kinds"], [KINDS.index(k) for k in kinds])
    for name in ("hyps", "source", "kinds", "hyp_vectors"):
        out[name] = out[name][keep]
    out["hyp_vectors"] = out["hyp_vectors"].astype(np.float32)
    return out


__all__ = ["KINDS", "corrupt", "is_corrections", "load_corrections", "make_corrections"]
