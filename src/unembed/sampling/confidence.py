"""Confidence-ordered unmasking (MaskGIT): at each step, commit the masked positions whose
best token is most probable; committed tokens stay."""
from __future__ import annotations

from ..text.codes import MASK
from .base import Sampler, demote_same_step_repeats


class ConfidenceSampler(Sampler):
    name = "confidence"

    def step(self, index, logits, codes):
        masked = codes == MASK                                        # (B, L)
        best, confidence = self.best_tokens(logits, codes)           # (B, L)
        rank_by = confidence.masked_fill(~masked, -1.0)
        if self.repetition_penalty > 0:
            rank_by = demote_same_step_repeats(rank_by, best, masked)
        order = rank_by.argsort(dim=1, descending=True).argsort(dim=1)  # rank per position
        reveal = masked & (order < self.to_reveal(index, codes)[:, None])
        return self.write(codes, reveal, best, confidence)
