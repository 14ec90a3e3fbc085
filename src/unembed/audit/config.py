"""`unembed audit`'s settings."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import check, check_types
from .defenses import parse_defenses


DEFAULT_DEFENSES = ("none,noise:0.001,noise:0.003,noise:0.01,noise:0.03,noise:0.1,int8,binary,"
                    "truncate:192,truncate:96,pca:128,pca:32,rotation,rotation+noise:0.01,pca:128+int8")


@dataclass
class AuditConfig:
    defenses: str = DEFAULT_DEFENSES  # comma-separated: none, noise:SIGMA, int8, binary, truncate:K, pca:K, rotation[:KEY]; '+' combines
    limit: int = 1000                # audit the first N texts (0 = all)
    steps: int = 8                   # denoising steps of the attack
    strategy: str = "confidence"     # decoding of the attack; correct or refine also call the encoder
    encoder_budget: int = 64         # correct, refine: most encoder calls per attacked text
    k: int = 10                      # utility: recall@k of each query's own document
    adaptive: bool = False           # also attack with an inverter aligned and fine-tuned on leaked defended pairs
    leaked: float = 0.5              # adaptive: share of the texts the attacker holds as (text, stored vector) pairs
    adaptive_steps: int = 300        # adaptive: fine-tuning steps for each defense
    adaptive_lr: float = 3e-4        # adaptive: peak fine-tuning learning rate
    examples: int = 3                # example reconstructions per defense in the report
    seed: int = 0                    # noise, query spans and the leaked split

    def validate(self) -> "AuditConfig":
        """Every audit setting, checked before any store or model is read."""
        check_types(self)
        parse_defenses(self.defenses)
        check([
            (self.limit < 0, "--limit takes 0 (all) or a count"),
            (not 1 <= self.steps <= 4096, "--steps must be at least 1"),
            (self.encoder_budget < 1 or self.k < 1, "--encoder-budget and -k must be at least 1"),
            (not 0 < self.leaked < 1, f"--leaked is a share above 0 and below 1, got {self.leaked}"),
            (self.adaptive_steps < 1 or not self.adaptive_lr > 0, "--adaptive-steps must be at least 1, --adaptive-lr above 0"),
            (self.examples < 0, "--examples must be 0 or more"),
        ])
        return self
