"""Confidence-ordered unmasking (MaskGIT): at each step, commit the masked positions whose
best token is most probable; committed tokens stay."""
from __future__ import annotations

import torch

from ..vocabulary import MASK
from .base import Sampler


class ConfidenceSampler(Sampler):
    name = "confidence"

    def step(self, index, logits, codes):
        masked = codes == MASK                                        # (B, L)
        probs = self.penalise_repeats(logits, codes).float().softmax(-1)
        confidence, best = probs.max(dim=-1)                          # (B, L)
        confidence = confidence.masked_fill(~masked, -1.0)
        keep_masked = self.masked_after[index]
        n_reveal = masked.sum(dim=1) - keep_masked                    # (B,)
        order = confidence.argsort(dim=1, descending=True).argsort(dim=1)  # rank per position
        reveal = masked & (order < n_reveal[:, None])
        return torch.where(reveal, best, codes)
