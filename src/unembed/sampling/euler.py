"""Ancestral (Euler) sampling of the reverse process: at each step every masked position
is revealed with probability (masked now - masked after) / masked now, its token drawn
from the model's distribution at a temperature (0 = the most probable token)."""
from __future__ import annotations

import torch

from ..text.codes import MASK
from .base import Sampler


class EulerSampler(Sampler):
    name = "euler"

    def __init__(self, temperature: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.temperature = temperature  # checked with the other settings: DecodeConfig.validate

    def draw(self, logits: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A token per masked position and its probability under the model, laid out as
        codes (B, L). logits (n, V)."""
        if self.temperature == 0:
            return self.best_tokens(logits, codes)
        penalised = self.penalise_repeats(logits, codes)
        probs = penalised.softmax(-1)                                        # (n, V)
        tempered = (penalised / self.temperature).softmax(-1) if self.temperature != 1 else probs
        # inverse CDF: one uniform number per position, not one per (position, token) as an
        # exponential race or multinomial draw, 7x faster here; zero-probability tokens
        # (MASK, PAD) are never drawn, as u > 0
        cdf = tempered.cumsum(dim=-1)                                        # (n, V)
        u = torch.rand(len(cdf), 1, generator=self.rng(logits.device), device=logits.device)
        tokens = torch.searchsorted(cdf, u.clamp_(min=1e-9) * cdf[:, -1:]).clamp_(max=cdf.shape[1] - 1)
        return self.scatter(codes, tokens[:, 0], probs.gather(-1, tokens)[:, 0])

    def step(self, index, logits, codes):
        masked = codes == MASK
        n_masked = masked.sum(dim=1).clamp(min=1)
        p_reveal = (self.to_reveal(index, codes) / n_masked)[:, None]        # (B, 1)
        coin = torch.rand(codes.shape, generator=self.rng(codes.device), device=codes.device)
        last = index == self.steps - 1
        reveal = masked & ((coin < p_reveal) | last)
        tokens, confidence = self.draw(logits, codes)
        return self.write(codes, reveal, tokens, confidence)
