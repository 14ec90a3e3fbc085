"""`unembed corrections`' settings: the hypotheses a corrector learns to rewrite."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import check_types
from ..errors import UnembedError


@dataclass
class CorrectionsConfig:
    """`unembed corrections`: the hypotheses a corrector learns to rewrite."""
    texts: int = 32000           # training texts to make hypotheses for (0 = all)
    heldout: int = 256           # held-out texts, from the end of the split (reports score its start)
    sampled: int = 1             # sampled base hypotheses per text (plus one greedy)
    corrupted: int = 2           # corrupted copies per text
    searched: int = 0            # encoder calls of `correct`'s own search per text: every text it embeds
                                 # (later rounds' rewrites, edits and steers) becomes a hypothesis too
    min_rate: float = 0.03       # corruption rate per token, drawn log-uniformly in [min, max]
    max_rate: float = 0.8        # the highest corruption rate
    temperature: float = 1.0     # of the sampled hypotheses
    steps: int = 8               # denoising steps of the base hypotheses
    shard_size: int = 4096       # texts per shard (the unit of resume)
    batch_size: int = 128        # decoding and encoder batch size
    seed: int = 0                # sampling and corruption

    def validate(self) -> "CorrectionsConfig":
        check_types(self)
        if min(self.texts, self.heldout, self.sampled, self.corrupted, self.searched) < 0:
            raise UnembedError("texts, heldout, sampled, corrupted and searched must be 0 or more")
        if not 0 < self.min_rate <= self.max_rate <= 1:
            raise UnembedError("corruption rates need 0 < min-rate <= max-rate <= 1")
        if self.shard_size < 1 or self.batch_size < 1 or self.steps < 1:
            raise UnembedError("shard-size, batch-size and steps must be at least 1")
        return self
