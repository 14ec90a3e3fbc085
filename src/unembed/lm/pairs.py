"""`unembed lm-pairs`: what an LM corrector learns from. For each text, its vector e, the
inverter's hypotheses for e (the greedy decode and `sampled` decodes at `temperature`), each
hypothesis's embedding ê, and the inverter's most likely content words for e:

    folder/
      meta.json                  settings, the inverter and encoder, counts; written last
      train/00000.jsonl          one pair a line: {"text", "hypothesis", "kind", "words"}
      train/00000.targets.npy    (n, D) float16 e, one row per pair
      train/00000.landed.npy     (n, D) float16 ê; written last, so it marks a whole shard
      heldout/...                the same for the last `heldout` texts

Shards are written whole or not at all, so a rerun resumes where the last one stopped."""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..files import atomic
from .config import LMPairsConfig
from ..config import to_dict
from ..errors import UnembedError
from .words import content_words

logger = logging.getLogger(__name__)
def hypotheses(inverter, vectors: torch.Tensor, cfg: LMPairsConfig, seed: int) -> list[tuple[str, list[str]]]:
    """(kind, texts) for each decode of vectors (B, D): the greedy one, then `sampled`."""
    greedy = inverter.settings_with(strategy="confidence", steps=cfg.steps).decoding
    out = [("greedy", [inverter.vocab.decode(r) for r in inverter.generate(vectors, greedy).cpu().numpy()])]
    for s in range(cfg.sampled):
        sampling = replace(greedy, strategy="euler", temperature=cfg.temperature, seed=seed + s)
        out.append(("sampled", [inverter.vocab.decode(r) for r in inverter.generate(vectors, sampling).cpu().numpy()]))
    return out


def _shard(inverter, texts: list[str], cfg: LMPairsConfig, seed: int, bar) -> tuple[list[dict], np.ndarray, np.ndarray]:
    encoder = inverter.encoder
    rows, targets, landed = [], [], []
    for start in range(0, len(texts), cfg.batch_size):
        batch = texts[start:start + cfg.batch_size]
        e = encoder.encode(batch, batch_size=cfg.batch_size, show_progress=False)
        vectors = torch.from_numpy(inverter.to_model_space(e)).to(inverter.device)
        words = content_words(inverter, vectors, cfg.words)
        made = hypotheses(inverter, vectors, cfg, seed + start)
        for kind, hyps in made:
            hyps = [h if h.strip() else "." for h in hyps]  # an empty decode still has an embedding
            landed.append(encoder.encode(hyps, batch_size=cfg.batch_size, show_progress=False))
            targets.append(e)
            rows += [{"text": t, "hypothesis": h, "kind": kind, "words": w} for t, h, w in zip(batch, hyps, words)]
        bar.update(len(batch))
    return rows, np.concatenate(targets).astype(np.float16), np.concatenate(landed).astype(np.float16)


def make_pairs(inverter, texts: list[str], out: str | Path, cfg: LMPairsConfig, source: str = "") -> dict:
    """Write the pairs of `texts` under `out` (see the module docstring); -> meta."""
    cfg = cfg.validate()
    out = Path(out)
    if inverter.model.config.hypothesis or not inverter.model.config.lexical_prior:
        raise UnembedError("lm-pairs needs an inverter with a bag-of-tokens prior (not a corrector)")
    texts = texts[:cfg.texts] if cfg.texts else texts
    if len(texts) <= cfg.heldout:
        raise UnembedError(f"lm-pairs: {len(texts)} texts, not more than --heldout {cfg.heldout}")
    splits = {"train": texts[:len(texts) - cfg.heldout], "heldout": texts[len(texts) - cfg.heldout:]}
    counts = {}
    total = sum(len(t) for t in splits.values())
    with tqdm(total=total, desc="lm-pairs", unit="text") as bar:
        for split, items in splits.items():
            (out / split).mkdir(parents=True, exist_ok=True)
            counts[split] = 0
            for index, start in enumerate(range(0, len(items), cfg.shard_size)):
                chunk = items[start:start + cfg.shard_size]
                stem = out / split / f"{index:05d}"
                if Path(f"{stem}.landed.npy").is_file():
                    bar.update(len(chunk))
                else:
                    rows, targets, landed = _shard(inverter, chunk, cfg, cfg.seed + 1_000_003 * index, bar)
                    atomic.write_bytes(Path(f"{stem}.jsonl"), "".join(
                        json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8"))
                    atomic.save_npy(Path(f"{stem}.targets.npy"), targets)
                    atomic.save_npy(Path(f"{stem}.landed.npy"), landed)
                counts[split] += len(chunk) * (1 + cfg.sampled)
    meta = {"type": "unembed/lm-pairs", "format": 1, "settings": to_dict(cfg), "source": source,
            "encoder": inverter.model.config.encoder, "dim": int(inverter.input_dim), "pairs": counts}
    atomic.write_bytes(out / "meta.json", (json.dumps(meta, indent=1) + "\n").encode())
    return meta


def read_pairs(folder: str | Path, split: str) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """-> (rows, targets (n, D) float32, landed (n, D) float32) of one split, every whole shard."""
    folder = Path(folder)
    if not (folder / "meta.json").is_file():
        raise UnembedError(f"{folder} is not finished `unembed lm-pairs` output (no meta.json)")
    rows, targets, landed = [], [], []
    for marker in sorted((folder / split).glob("*.landed.npy")):
        stem = str(marker)[:-len(".landed.npy")]
        rows += [json.loads(line) for line in Path(f"{stem}.jsonl").read_text(encoding="utf-8").splitlines()]
        targets.append(np.load(f"{stem}.targets.npy"))
        landed.append(np.load(marker))
    if not rows:
        raise UnembedError(f"{folder / split}: no pairs")
    return rows, np.concatenate(targets).astype(np.float32), np.concatenate(landed).astype(np.float32)
