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
        if self.repetition_penalty > 0:
            confidence = self.demote_same_step_repeats(confidence, best, masked)
        keep_masked = self.masked_after[index]
        n_reveal = masked.sum(dim=1) - keep_masked                    # (B,)
        order = confidence.argsort(dim=1, descending=True).argsort(dim=1)  # rank per position
        reveal = masked & (order < n_reveal[:, None])
        return torch.where(reveal, best, codes)

    @staticmethod
    def demote_same_step_repeats(confidence, best, masked):
        """Parallel decoding can commit one token at several positions in the same step, out
        of reach of the penalty on earlier steps. Later copies drop below every fresh token,
        so they are revealed only if the step's quota cannot be met otherwise."""
        order = confidence.argsort(dim=1, descending=True)
        tokens = best.gather(1, order).tolist()
        live = masked.gather(1, order).tolist()
        repeat = torch.zeros_like(masked)
        for row, (row_tokens, row_live) in enumerate(zip(tokens, live)):
            seen = set()
            for rank, (token, is_masked) in enumerate(zip(row_tokens, row_live)):
                if not is_masked:
                    continue
                if token >= 3 and token in seen:  # specials (PAD) may repeat freely
                    repeat[row, order[row, rank]] = True
                seen.add(token)
        return confidence.masked_fill(repeat, -0.5)
