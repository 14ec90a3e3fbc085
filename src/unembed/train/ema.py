"""Exponential moving average of the weights, with a short warmup of the decay."""
from __future__ import annotations

import torch


class EMA:
    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone().float() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))  # early on, follow the weights
        for k, v in model.state_dict().items():
            self.shadow[k].lerp_(v.float(), 1 - decay)

    def copy_to(self, model: torch.nn.Module) -> None:
        model.load_state_dict(self.shadow)
