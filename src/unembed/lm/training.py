"""`unembed train-lm`: fine-tune an LM corrector (LoRA and the prefix map; the base stays
frozen) on `unembed lm-pairs` data.

    run/config.json          the resolved LMTrainConfig and LMCorrectorConfig
    run/log.jsonl            one line per logged step: loss, lr, seconds, held-out loss
    run/last/model/          the delta checkpoint (lm/rewriter.py), loadable as it is
    run/last/optimizer/      AdamW's moments and the step, safetensors: resuming continues exactly

Steps: 1 sample a batch of pairs  2 loss on the text's tokens  3 backward, clip, AdamW step
4 every eval_every steps, the held-out loss  5 every save_every steps, a checkpoint."""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..files import atomic
from .config import LMCorrectorConfig, LMTrainConfig
from ..runtime.precision import cpu_has_bfloat16
from .base import load_base
from .pairs import read_pairs
from .rewriter import LMCorrector

logger = logging.getLogger(__name__)


def lr_at(step: int, cfg: LMTrainConfig) -> float:
    """Linear warmup, then cosine from lr to lr / 10."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    done = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, done))))


def batch_loss(model: LMCorrector, rows: list[dict], targets: np.ndarray, landed: np.ndarray,
               index: np.ndarray) -> torch.Tensor:
    picked = [rows[i] for i in index]
    device = model.lm.get_input_embeddings().weight.device
    return model.loss([r["text"] for r in picked], [r["hypothesis"] for r in picked], [r["words"] for r in picked],
                      torch.from_numpy(targets[index]).to(device), torch.from_numpy(landed[index]).to(device))


def save_optimizer(folder: Path, optimizer: torch.optim.Optimizer, names: dict, step: int) -> None:
    from safetensors.torch import save_file
    state = {}
    for name, p in names.items():
        for key, value in optimizer.state.get(p, {}).items():
            if torch.is_tensor(value):
                state[f"{name}::{key}"] = value.detach().contiguous()
    with atomic.folder(folder) as tmp:
        save_file(state, str(tmp / "optimizer.safetensors"))
        (tmp / "state.json").write_text(json.dumps({"step": step}) + "\n")


def load_optimizer(folder: Path, optimizer: torch.optim.Optimizer, names: dict) -> int:
    from safetensors.torch import load_file
    state = load_file(str(folder / "optimizer.safetensors"))
    for key, value in state.items():
        name, _, slot = key.partition("::")
        optimizer.state[names[name]][slot] = value
    return int(json.loads((folder / "state.json").read_text())["step"])


def train_lm(cfg: LMTrainConfig, model_cfg: LMCorrectorConfig, base=None, show_progress: bool = True) -> Path:
    """Train (or resume) the run in cfg.out; -> the run folder. `base`: (model, tokenizer)
    already loaded, e.g. a tiny random LM in tests; else the config's base from its package."""
    cfg, model_cfg = cfg.validate(), model_cfg.validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    rows, targets, landed = read_pairs(cfg.pairs, "train")
    held = read_pairs(cfg.pairs, "heldout") if cfg.eval_pairs else None
    model_cfg.cond_dim = targets.shape[1]
    bf16 = cfg.precision == "bfloat16" or (cfg.precision == "auto" and cpu_has_bfloat16())
    last = out / "last"
    if cfg.resume and (last / "model" / "delta.safetensors").is_file():
        model = LMCorrector.from_pretrained(last / "model", torch.bfloat16 if bf16 else torch.float32, base=base)
    else:
        lm, tokenizer = base if base is not None else load_base(model_cfg.base, torch.bfloat16 if bf16 else torch.float32)
        model = LMCorrector(model_cfg, lm, tokenizer)
    names = model.trainable()
    for p in names.values():  # master weights in float32, whatever the base's dtype
        p.data = p.data.float()
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(list(names.values()), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step = load_optimizer(last / "optimizer", optimizer, names) if (last / "optimizer").is_dir() and cfg.resume else 0
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(out / "config.json",
                       (json.dumps({"train": asdict(cfg), "model": asdict(model.config)}, indent=1) + "\n").encode())
    rng = np.random.default_rng(cfg.seed + step)
    log = open(out / "log.jsonl", "a" if step else "w")
    trained = sum(p.numel() for p in names.values())
    logger.info("%d pairs, %d trainable parameters, base in %s", len(rows), trained, "bfloat16" if bf16 else "float32")
    start, seen = time.time(), 0
    with tqdm(total=cfg.steps, initial=step, desc="train-lm", unit="step", disable=not show_progress) as bar:
        while step < cfg.steps:
            if cfg.time_budget and time.time() - start > 60 * cfg.time_budget:
                break
            model.train()
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, cfg)
            loss = batch_loss(model, rows, targets, landed, rng.integers(len(rows), size=cfg.batch_size))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(names.values()), cfg.grad_clip)
            optimizer.step()
            step += 1
            seen += cfg.batch_size
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
            entry = {"step": step, "loss": round(loss.item(), 4), "lr": lr_at(step - 1, cfg),
                     "seconds": round(time.time() - start, 1), "pairs_seen": seen}
            if held is not None and (step % cfg.eval_every == 0 or step == cfg.steps):
                entry["heldout_loss"] = round(heldout_loss(model, held, cfg), 4)
            if step % cfg.save_every == 0 or step == cfg.steps:
                model.save_pretrained(last / "model")
                save_optimizer(last / "optimizer", optimizer, names, step)
            if step % 10 == 0 or "heldout_loss" in entry:
                log.write(json.dumps(entry) + "\n")
                log.flush()
    model.save_pretrained(last / "model")
    save_optimizer(last / "optimizer", optimizer, names, step)
    log.close()
    return out


@torch.no_grad()
def heldout_loss(model: LMCorrector, held, cfg: LMTrainConfig) -> float:
    rows, targets, landed = held
    model.eval()
    n = min(cfg.eval_pairs, len(rows))
    losses = [batch_loss(model, rows, targets, landed, np.arange(s, min(n, s + cfg.batch_size))).item()
              for s in range(0, n, cfg.batch_size)]
    return float(np.mean(losses))
