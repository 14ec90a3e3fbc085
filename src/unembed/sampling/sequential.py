"""Left-to-right greedy decoding: each step commits the leftmost masked positions, as many
as the schedule says, each to its most probable token."""
from __future__ import annotations

from ..text.codes import MASK
from .base import Sampler


class SequentialSampler(Sampler):
    name = "sequential"

    def step(self, index, logits, codes):
        masked = codes == MASK                                        # (B, L)
        best, confidence = self.best_tokens(logits, codes)           # (B, L)
        position_among_masked = masked.cumsum(dim=1)                  # 1 for the leftmost
        reveal = masked & (position_among_masked <= self.to_reveal(index, codes)[:, None])
        return self.write(codes, reveal, best, confidence)
