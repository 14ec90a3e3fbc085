"""Search settings: how an encoder-guided search (`correct`, and `refine`, its preset) spends
its encoder calls. The decoding settings of each decode it runs are sampling/config.py's."""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..config import check, check_types
from ..errors import UnembedError
from .proposals import ProposalSpec, parse_proposals

# A search named by --strategy: the settings it overrides (any given on the command line win).
# `refine` is the base model alone: steers only, each from the best text so far, pushed as far
# again as the text missed (lab/experiments.md 15: push 1.0 lands nearer in cosine than 0.5).
PRESETS = {
    "correct": {},
    "refine": dict(proposals="steer:0.15,steer:0.3,steer:0.5", beam=1, steer=1.0),
}


@dataclass
class SearchConfig:
    encoder_budget: int = 64         # most encoder calls per text
    candidates: int = 8              # texts proposed per round for each vector
    beam: int = 2                    # best texts so far that each round rewrites
    # correct's defaults, chosen in lab/experiments.md 15: steers first lift held-out token F1
    # and cosine; a push of 1.0 (refine's) wrote texts nearer in cosine but further in BLEU
    proposals: str = "steer:0.3,rewrite:0,steer:0.5,edit:0.3,rewrite:1,rewrite:-1"  # what each beam text is given in turn (search/proposals.py): rewrite:LENGTH_SHIFT, edit:SHARE_MASKED, steer:SHARE_MASKED, lm:TEMPERATURE (0 = greedy only)
    steer: float = 0.5               # a steer decodes target + steer * (target - the hypothesis's embedding)

    def validate(self) -> "SearchConfig":
        check_types(self)
        check([
            (self.encoder_budget < 1, f"encoder budget must be at least 1, got {self.encoder_budget}"),
            (self.candidates < 1 or self.beam < 1, "a search needs candidates >= 1 and beam >= 1"),
            (not self.steer >= 0, f"steer must be 0 or more, got {self.steer}"),
        ])
        self.proposal_list()
        return self

    def proposal_list(self) -> tuple[ProposalSpec, ...]:
        """`proposals` as typed values (parsed once per distinct setting)."""
        return parse_proposals(self.proposals)

    def preset(self, strategy: str, given: dict | None = None) -> "SearchConfig":
        """These settings under the preset `strategy` names, then the `given` overrides."""
        if strategy not in PRESETS:
            raise UnembedError(f"{strategy!r} is no search; choose from {', '.join(PRESETS)}")
        return replace(self, **{**PRESETS[strategy], **(given or {})})


__all__ = ["PRESETS", "SearchConfig"]
