"""Mask schedules: how much of the sequence is masked at diffusion time t in (0, 1].

At t -> 0 nothing is masked, at t = 1 everything is. Training draws t per sample; the
sampler walks t from 1 down to 0."""
from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch


class MaskSchedule(ABC):
    name = "base"

    @abstractmethod
    def ratio(self, t: torch.Tensor) -> torch.Tensor:
        """Mask ratio at time t. (B,) -> (B,), values in (0, 1]."""

    @abstractmethod
    def elbo_weight(self, t: torch.Tensor) -> torch.Tensor:
        """MDLM's continuous-time ELBO weight ratio'(t) / ratio(t). (B,) -> (B,)"""


class LinearSchedule(MaskSchedule):
    """ratio = t: the mask ratio is uniform on (0, 1]."""
    name = "linear"

    def ratio(self, t):
        return t

    def elbo_weight(self, t):
        return 1.0 / t


class CosineSchedule(MaskSchedule):
    """ratio = 1 - cos(pi t / 2): more time at low mask ratios, where detail is decided."""
    name = "cosine"

    def ratio(self, t):
        return 1.0 - torch.cos(math.pi / 2 * t)

    def elbo_weight(self, t):
        return (math.pi / 2 * torch.sin(math.pi / 2 * t)) / (1.0 - torch.cos(math.pi / 2 * t))


SCHEDULES = {s.name: s for s in (LinearSchedule, CosineSchedule)}


def get_schedule(name: str) -> MaskSchedule:
    if name not in SCHEDULES:
        raise ValueError(f"unknown mask schedule {name!r}; choose from {sorted(SCHEDULES)}")
    return SCHEDULES[name]()


def sample_times(batch: int, generator: torch.Generator, eps: float = 1e-3,
                 device="cpu") -> torch.Tensor:
    """Stratified t in [eps, 1]: one uniform offset shared by B evenly spaced strata, so each
    batch covers the whole range (lower-variance loss) and every sample is still uniform. (B,)"""
    u = torch.rand(1, generator=generator).item()
    t = (u + torch.arange(batch, dtype=torch.float32) / batch) % 1.0
    t = t[torch.randperm(batch, generator=generator)]
    return (eps + (1 - eps) * t).to(device)


def sample_mask(ratio: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """Mask exactly max(1, round(ratio * length)) random positions of each row, padding
    included, so the model must infer the length. ratio (B,) -> bool (B, length)."""
    B = ratio.shape[0]
    n_masked = (ratio.cpu() * length).round().clamp(1, length).long()          # (B,)
    ranks = torch.rand(B, length, generator=generator).argsort(dim=1).argsort(dim=1)
    return (ranks < n_masked[:, None]).to(ratio.device)
