"""Two curves that say how much of a text is masked, one for each half of the method:

- a *mask schedule* (training): the share masked at diffusion time t in (0, 1], from which
  training draws t per sample (t -> 0 nothing masked, t = 1 everything);
- a *reveal schedule* (decoding): how many positions are still masked after each of the
  sampler's steps. The sampler does not walk the mask schedule's t: the model reads the share
  still masked, so decoding may spend its steps on another curve, and does (cosine here keeps
  more positions masked early, when the vector alone decides)."""
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

# reveal schedules: share still masked after progress s = step / steps in (0, 1]
REVEAL_SCHEDULES = {"cosine": lambda s: math.cos(math.pi / 2 * s), "linear": lambda s: 1.0 - s}


def reveal_plan(name: str, steps: int, length: int) -> list[int]:
    """How many of `length` positions stay masked after each of `steps` decoding steps. Every
    step reveals at least one position and the last reveals all the rest."""
    if name not in REVEAL_SCHEDULES:
        raise ValueError(f"unknown reveal schedule {name!r}; choose from {sorted(REVEAL_SCHEDULES)}")
    if not 1 <= steps <= length:
        raise ValueError(f"steps must be between 1 and {length}, got {steps}")
    plan, previous = [], length
    for i in range(1, steps + 1):
        n = min(previous - 1, round(length * REVEAL_SCHEDULES[name](i / steps)))
        n = max(n, steps - i)  # leave one position for each remaining step
        plan.append(n)
        previous = n
    plan[-1] = 0
    return plan


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
