"""Euler sampling with low-confidence remasking: after each step but the last, tokens written
earlier with a probability under `remask_threshold` are masked again (at most half as many as the
step revealed, so decoding still advances), and decoded anew with more context."""
from __future__ import annotations

from ..text.codes import MASK
from .euler import EulerSampler


class RemaskSampler(EulerSampler):
    name = "remask"

    def __init__(self, remask_threshold: float = 0.3, **kwargs):
        super().__init__(**kwargs)
        self.threshold = remask_threshold

    def step(self, index, logits, codes):
        before = codes == MASK
        codes = super().step(index, logits, codes)
        if index == self.steps - 1:
            return codes
        revealed = (before & (codes != MASK)).sum(dim=1)
        earlier = codes.masked_fill(before, MASK)  # only tokens from earlier steps may go back
        again = (self.remask_lowest(earlier, revealed // 2, below=self.threshold) == MASK) & ~before
        return codes.masked_fill(again, MASK)
