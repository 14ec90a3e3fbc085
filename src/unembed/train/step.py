"""One optimizer step of the MDLM objective: the same step for the trainer (loop.py), the
in-memory fine-tune (finetune.py) and lab/training_speed.py."""
from __future__ import annotations

import torch

from ..diffusion import mdlm_loss
from ..runtime.precision import autocast


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, codes: torch.Tensor,
               vectors: torch.Tensor, schedule, generator: torch.Generator, lr: float | None = None,
               grad_clip: float = 1.0, precision: str = "float32", net: torch.nn.Module | None = None,
               **loss_options) -> tuple[dict, torch.Tensor]:
    """Forward, backward, clip and update on one batch: codes (B, L), vectors (B, D). `net`
    runs the forward when it wraps `model` (DDP); `lr` sets every group's rate first;
    `loss_options` go to `mdlm_loss` (weighting, lexical_weight, length_sample, a corrector's
    hypothesis). Returns the loss parts and the gradient norm before clipping."""
    if lr is not None:
        for group in optimizer.param_groups:
            group["lr"] = lr
    model.train()
    with autocast(codes.device, precision):
        parts = mdlm_loss(net or model, codes, vectors, schedule, generator, **loss_options)
    optimizer.zero_grad(set_to_none=True)
    parts["loss"].backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return parts, grad_norm


__all__ = ["train_step"]
