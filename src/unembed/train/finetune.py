"""Fine-tune an inverter in memory on a few (text, vector) pairs: how an adaptive attacker
adjusts a trained inverter to vectors a defense has changed. The full training run for a
corpus on disk is `train/loop.py`; this is its short, in-memory cousin."""
from __future__ import annotations

import copy

import numpy as np
import torch
from tqdm.auto import tqdm

from ..diffusion import get_schedule, heldout_loss
from ..errors import UnembedError
from ..inverter import Inverter
from ..text.codes import PAD
from .batches import Batches, LengthBuckets
from .lr import lr_at
from .step import train_step


def finetune(inverter, texts: list[str], vectors: np.ndarray, steps: int = 300, lr: float = 3e-4,
             batch_tokens: int = 1024, batch_size: int = 32, seed: int = 0, validation: float = 0.1,
             check_every: int = 50, show_progress: bool = True, desc: str = "fine-tune"):
    """A new Inverter (the given one is left untouched) trained up to `steps` steps on `texts`
    and their `vectors` (N, cond_dim) as the model reads them (no alignment map), with a short
    warmup and cosine decay of `lr`. A `validation` share of the pairs is held out; every
    `check_every` steps the masked-token loss on it is measured, and the weights with the
    lowest (the given ones included) are returned: a few pairs are quickly overfitted."""
    if len(texts) != len(vectors):
        raise UnembedError(f"{len(texts)} texts but {len(vectors)} vectors to fine-tune on")
    model = copy.deepcopy(inverter.model).float().train()
    cfg = model.config
    codes = torch.from_numpy(inverter.vocab.encode(texts, cfg.max_len)).to(inverter.device)  # (N, L)
    vectors = torch.as_tensor(np.asarray(vectors, dtype=np.float32), device=inverter.device)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(codes))).to(codes.device)
    n_check = int(round(validation * len(codes))) if len(codes) >= 20 else 0
    check = (codes[order[:n_check]], vectors[order[:n_check]])
    codes, vectors = codes[order[n_check:]], vectors[order[n_check:]]
    lengths = (codes != PAD).sum(dim=1)
    batches = (LengthBuckets(lengths.cpu().numpy(), min(batch_tokens, int(lengths.sum())), seed)
               if cfg.length_head else Batches(len(codes), min(batch_size, len(codes)), seed))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    generator = torch.Generator().manual_seed(seed)
    schedule = get_schedule("linear")
    best = (held_out_loss(model, *check, schedule), copy.deepcopy(model.state_dict()))
    for step in tqdm(range(steps), desc=desc, unit="step", disable=not show_progress, leave=False):
        idx = torch.from_numpy(batches.next()).to(codes.device)
        width = int(lengths[idx].max()) if cfg.length_head else codes.shape[1]
        train_step(model, optimizer, codes[idx, :width], vectors[idx], schedule, generator,
                   lr=lr_at(step, lr, max(1, steps // 10), steps, 0.1), grad_clip=1.0,
                   length_sample=(vectors, lengths) if cfg.length_head else None)
        if n_check and ((step + 1) % check_every == 0 or step + 1 == steps):
            loss = held_out_loss(model, *check, schedule)
            if loss < best[0]:
                best = (loss, copy.deepcopy(model.state_dict()))
    if n_check:
        model.load_state_dict(best[1])
    return Inverter(model.eval(), inverter.vocab, inverter.settings, inverter._encoder, inverter.device,
                    precision=inverter.precision, folder=inverter.folder)  # and so its corrector


def held_out_loss(model, codes: torch.Tensor, vectors: torch.Tensor, schedule) -> float:
    """Masked-token cross-entropy on the validation pairs over four fixed maskings (inf when
    there are none)."""
    return heldout_loss(model, codes, vectors, schedule, seeds=(0, 1, 2, 3))["ce"]


__all__ = ["finetune"]
