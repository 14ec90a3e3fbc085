"""Decoding settings: how one decode fills a vector's masks (a sampler's settings, and which
strategy; `correct` and `refine` are searches over decodes, set by search/config.py)."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import check, check_types
from ..diffusion.schedule import REVEAL_SCHEDULES
from ..model.script_gate import THRESHOLD
from . import STRATEGIES


@dataclass
class DecodeConfig:
    steps: int = 8                   # denoising steps, 1..max_len
    strategy: str = "confidence"     # confidence | sequential | euler | remask | two-stage, or a search over decodes that calls the encoder: correct | refine
    repetition_penalty: float = 0.0  # logit penalty per earlier use of a token
    reveal_schedule: str = "cosine"  # how many tokens each step writes: cosine | linear (training's curve is --mask-schedule)
    temperature: float = 1.0         # euler, remask and a search's sampled proposals: sampling temperature (0 = greedy)
    remask_threshold: float = 0.3    # remask: tokens written with less probability may be masked again
    seed: int = 0                    # random seed of the stochastic strategies
    script_gate: float = THRESHOLD   # a model with a script gate never writes a script it puts below this probability (0 = off)

    RENAMED = {"schedule": "reveal_schedule"}   # sampling.json files and flags before the split

    def validate(self, max_len: int) -> "DecodeConfig":
        """The one check of decoding settings, for a model that writes up to `max_len` tokens."""
        check_types(self)
        check([
            (self.strategy not in STRATEGIES, f"unknown strategy {self.strategy!r}; choose from {', '.join(STRATEGIES)}"),
            (self.reveal_schedule not in REVEAL_SCHEDULES,
             f"reveal schedule must be one of {', '.join(REVEAL_SCHEDULES)}, got {self.reveal_schedule!r}"),
            (not 1 <= self.steps <= max_len, f"steps must be between 1 and {max_len}, got {self.steps}"),
            (not self.temperature >= 0, "temperature must be 0 or more"),
            (not self.repetition_penalty >= 0, "repetition penalty must be 0 or more"),
            (not 0 <= self.remask_threshold <= 1, "remask threshold must be between 0 and 1"),
            (not 0 <= self.script_gate < 1, f"script gate must be at least 0 and below 1, got {self.script_gate}"),
        ])
        return self


__all__ = ["DecodeConfig"]
