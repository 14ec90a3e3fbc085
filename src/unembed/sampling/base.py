"""The sampler interface (diffusers-style): `set_timesteps`, then one `step` per model call.
A sampler holds no model; the pipeline runs the loop."""
from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch

from ..vocabulary import MASK


class Sampler(ABC):
    name = "base"

    def __init__(self, repetition_penalty: float = 0.0, schedule: str = "cosine"):
        self.repetition_penalty = repetition_penalty
        self.schedule = schedule
        self.masked_after = torch.zeros(0, dtype=torch.long)   # (steps,) or (steps, B)
        self.lengths: int | torch.Tensor = 1

    def plan(self, steps: int, length: int) -> list[int]:
        """How many of `length` positions stay masked after each of `steps` steps. Every step
        reveals at least one position and the last reveals all the rest."""
        if not 1 <= steps <= length:
            raise ValueError(f"steps must be between 1 and {length}, got {steps}")
        plan, previous = [], length
        for i in range(1, steps + 1):
            s = i / steps
            frac = math.cos(math.pi / 2 * s) if self.schedule == "cosine" else 1.0 - s
            n = min(previous - 1, round(length * frac))
            n = max(n, steps - i)  # leave one position for each remaining step
            plan.append(n)
            previous = n
        plan[-1] = 0
        return plan

    def set_timesteps(self, steps: int, length: int | torch.Tensor) -> None:
        """Plan the steps for one length, or per row for lengths (B,): a row shorter than
        `steps` reveals one position per step and is done early."""
        self.lengths = length
        if isinstance(length, int):
            self.masked_after = torch.tensor(self.plan(steps, length))
            return
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        plans = {n: self.plan(min(steps, n), n) + [0] * max(0, steps - n) for n in set(length.tolist())}
        self.masked_after = torch.tensor([plans[n] for n in length.tolist()], device=length.device).T

    def mask_ratio(self, codes: torch.Tensor) -> torch.Tensor:
        """The model's time input: the share of each row's positions still masked. (B,)"""
        return (codes == MASK).sum(dim=1) / torch.as_tensor(self.lengths, device=codes.device).clamp(min=1)

    def penalise_repeats(self, logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Lower the logits of tokens already written in the row, once per use.
        logits (B, L, V); codes (B, L). Special codes (< 3) are never penalised."""
        if self.repetition_penalty <= 0:
            return logits
        counts = torch.zeros(logits.shape[0], logits.shape[-1], device=logits.device)
        written = codes.clamp(min=0)
        counts.scatter_add_(1, written, (codes >= 3).float())
        return logits - self.repetition_penalty * counts[:, None, :]

    @abstractmethod
    def step(self, index: int, logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Given the model's logits (B, L, V) at step `index`, return the next codes (B, L)."""
