"""Two stages: left-to-right decoding over the first half of the steps, then refinement:
each later step masks again the least confident part of the text (a shrinking share) and
decodes it anew with the whole rest of the text as context."""
from __future__ import annotations

from ..text.codes import MASK, PAD
from .sequential import SequentialSampler


class TwoStageSampler(SequentialSampler):
    name = "two-stage"

    def __init__(self, refine_share: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.refine_share = refine_share    # share of the text masked again at the first refinement

    def set_timesteps(self, steps, length, masked=None):
        self.draft_steps = max(1, steps - steps // 2)
        super().set_timesteps(self.draft_steps, length, masked)   # the plan covers the draft only
        self.steps = steps

    def step(self, index, logits, codes):
        if index < self.draft_steps:
            codes = super().step(index, logits, codes)
        else:  # refinement: every masked position at once
            best, confidence = self.best_tokens(logits, codes)
            codes = self.write(codes, codes == MASK, best, confidence)
        if self.draft_steps - 1 <= index < self.steps - 1 and not (codes == MASK).any():
            share = self.refine_share * (self.steps - 1 - index) / (self.steps - self.draft_steps)
            n_text = (codes != PAD).sum(dim=1)
            codes = self.remask_lowest(codes, (n_text.float() * share).round().long())
        return codes
