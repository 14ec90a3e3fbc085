"""The sampler interface (diffusers-style): `set_timesteps`, then one `step` per model call.
A sampler holds no model; a decoder's `denoise` runs the loop (search/decoder.py). A step may re-mask positions it has
already written (remasking strategies); the last step always leaves none masked."""
from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from ..text.codes import FIRST_TOKEN, MASK, PAD
from ..diffusion.schedule import reveal_plan


class Sampler(ABC):
    name = "base"

    def __init__(self, repetition_penalty: float = 0.0, reveal_schedule: str = "cosine", seed: int = 0,
                 script_gate: float = 0.0):
        self.repetition_penalty = repetition_penalty
        self.script_gate = script_gate  # the decoding loop asks the model's script gate with it (script_gate.py)
        self.reveal = reveal_schedule  # its name (diffusion/schedule.py)
        self.seed = seed
        self.steps = 0
        self.masked_after = torch.zeros(0, dtype=torch.long)   # (steps,) or (steps, B)
        self.lengths: int | torch.Tensor = 1
        self.confidence: torch.Tensor | None = None            # (B, L) probability of each written token
        self.generator: torch.Generator | None = None

    def plan(self, steps: int, length: int) -> list[int]:
        """How many of `length` positions stay masked after each step: the reveal schedule's."""
        return reveal_plan(self.reveal, steps, length)

    def set_timesteps(self, steps: int, length: int | torch.Tensor, masked: torch.Tensor | None = None) -> None:
        """Plan the steps for one length, or per row for text lengths (B,). `masked` (B,): how
        many positions start masked, when decoding fills in part of a text (default: all).
        A row with fewer masked positions than `steps` reveals one per step and is done early."""
        self.steps, self.lengths, self.confidence = steps, length, None
        if isinstance(length, int):
            self.masked_after = torch.tensor(self.plan(steps, length))
            return
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        counts = length if masked is None else masked
        plans = {n: (self.plan(min(steps, n), n) if n else []) + [0] * max(0, steps - n)
                 for n in set(counts.tolist())}
        self.masked_after = torch.tensor([plans[n] for n in counts.tolist()], device=length.device).T

    def mask_ratio(self, codes: torch.Tensor) -> torch.Tensor:
        """The model's time input: the share of each row's positions still masked. (B,)"""
        return (codes == MASK).sum(dim=1) / torch.as_tensor(self.lengths, device=codes.device).clamp(min=1)

    def penalise_repeats(self, logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Lower, in place, the logits of tokens already written in the row, once per use.
        logits (n, V) at the masked positions of codes (B, L), row-major. Special codes (< FIRST_TOKEN)
        are never penalised."""
        if self.repetition_penalty <= 0:
            return logits
        rows = (codes == MASK).nonzero(as_tuple=True)[0]                # (n,) the row of each
        # each masked position's row has at most L written tokens: scatter those, not (n, V) counts
        penalty = -self.repetition_penalty * (codes[rows] >= FIRST_TOKEN).to(logits.dtype)   # (n, L)
        return logits.scatter_add_(1, codes[rows].clamp(min=0), penalty)

    def best_tokens(self, logits: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The most probable token at each masked position and its probability, laid out as
        codes (B, L): elsewhere the written code and probability 0. logits (n, V) float32,
        used up: they are overwritten in place."""
        logits = self.penalise_repeats(logits, codes)
        top, best = logits.max(dim=-1)                                # (n,)
        # its softmax probability, 1 / sum(exp(logits - top)), without a new (n, V) tensor
        confidence = logits.sub_(top[:, None]).exp_().sum(dim=-1).reciprocal()
        return self.scatter(codes, best, confidence)

    @staticmethod
    def scatter(codes: torch.Tensor, tokens: torch.Tensor, confidence: torch.Tensor):
        """Per-masked-position values (n,) laid out as (B, L)."""
        masked = codes == MASK
        out_tokens, out_conf = codes.clone(), torch.zeros(codes.shape, device=codes.device)
        out_tokens[masked], out_conf[masked] = tokens, confidence.float()
        return out_tokens, out_conf

    def to_reveal(self, index: int, codes: torch.Tensor) -> torch.Tensor:
        """How many masked positions each row reveals at step `index`. (B,)"""
        return ((codes == MASK).sum(dim=1) - self.masked_after[index]).clamp(min=0)

    def write(self, codes: torch.Tensor, where: torch.Tensor, tokens: torch.Tensor,
              confidence: torch.Tensor) -> torch.Tensor:
        """Write `tokens` at `where` (B, L) and remember how confident each choice was."""
        if self.confidence is None or self.confidence.shape != codes.shape:
            self.confidence = torch.where(codes == MASK, 0.0, 1.0).to(codes.device)  # given text: sure
        self.confidence = torch.where(where, confidence.float(), self.confidence)
        return torch.where(where, tokens, codes)

    def remask_lowest(self, codes: torch.Tensor, count: torch.Tensor,
                      below: float = float("inf")) -> torch.Tensor:
        """Mask again the `count` (B,) written positions of least confidence, only those
        under `below`. Padding is never re-masked."""
        written = (codes != MASK) & (codes != PAD)
        score = self.confidence.masked_fill(~written | (self.confidence >= below), float("inf"))
        rank = score.argsort(dim=1).argsort(dim=1)
        again = (rank < count[:, None]) & torch.isfinite(score)
        return codes.masked_fill(again, MASK)

    def rng(self, device: torch.device) -> torch.Generator:
        if self.generator is None or self.generator.device != device:
            self.generator = torch.Generator(device=device).manual_seed(self.seed)
        return self.generator

    @abstractmethod
    def step(self, index: int, logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Given the model's logits (n, V) at the n masked positions of codes (B, L), in
        row-major order, at step `index`: return the next codes (B, L). The logits are float32
        and the step's own: it may overwrite them."""


def demote_same_step_repeats(confidence: torch.Tensor, best: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """Parallel decoding can commit one token at several positions in the same step, out of
    reach of the penalty on earlier steps. Every copy but the most confident drops below
    each fresh token, so it is revealed only if the step's quota cannot be met otherwise.
    confidence, best (B, L); masked (B, L) bool."""
    rank = confidence.argsort(dim=1, descending=True).argsort(dim=1)          # 0 = most confident
    same = best[:, :, None] == best[:, None, :]                               # (B, L, L)
    earlier = same & masked[:, None, :] & (rank[:, None, :] < rank[:, :, None])
    repeat = earlier.any(dim=2) & masked & (best >= FIRST_TOKEN)  # specials (PAD) may repeat freely
    return confidence.masked_fill(repeat, -0.5)
