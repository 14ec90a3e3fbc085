"""The settings of the models: the inverter's (and corrector's) shape, the alignment map's fit,
the script gate's fit."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import check, check_types
from ..errors import UnembedError
from ..vectors.matryoshka import parse_widths


@dataclass
class ModelConfig:
    vocab_size: int = 0          # compact vocabulary incl. [PAD] [MASK] [UNK]; set from the data
    max_len: int = 32            # tokens the decoder writes; padding counts, so length is inferred
    cond_dim: int = 384          # dimension of the target embedding
    hidden: int = 384            # transformer width
    layers: int = 6              # transformer blocks
    heads: int = 6               # attention heads
    mlp_ratio: float = 4.0       # MLP width / hidden
    prefix_tokens: int = 4       # tokens projected from the vector and prepended (0 = AdaLN only)
    time_conditioning: bool = True  # add the mask ratio to the AdaLN condition
    lexical_prior: bool = True   # bag-of-tokens logits from the vector, added at every position
    length_head: bool = True     # predict the length from the vector; else pad every text to max_len
    dropout: float = 0.0
    hypothesis: bool = False     # a corrector: also reads a hypothesis text (its own segment) to rewrite
    feedback: bool = True        # a corrector: also reads the hypothesis's embedding and its gap to the target
    encoder: str = ""            # the encoder whose vectors this model inverts (recorded, not loaded)
    encoder_path: str = ""       # the local folder that stood in for it when the data was embedded
    encoder_prompt: str = "document"  # the prompt the vectors were embedded with
    encoder_dim: int = 0         # the Matryoshka dimension they were cut to (0 = full)
    matryoshka: str = ""         # also read these shorter prefixes of the vector, e.g. 128,256,512: trained on random cuts (matryoshka.py)

    def validate(self) -> "ModelConfig":
        """UnembedError (one line) for values no model can have, e.g. from a damaged config.json."""
        check_types(self)
        positive = ("vocab_size", "max_len", "cond_dim", "hidden", "layers", "heads")
        bad = [f"{name}={getattr(self, name)}" for name in positive if getattr(self, name) <= 0]
        if bad or self.prefix_tokens < 0 or not 0 < self.mlp_ratio <= 64 or not 0 <= self.dropout < 1:
            raise UnembedError("out of range: " + ", ".join(bad or ["prefix_tokens, mlp_ratio or dropout"]))
        if self.hidden % self.heads:
            raise UnembedError(f"hidden ({self.hidden}) is not a multiple of heads ({self.heads})")
        if self.max_len > 4096 or self.vocab_size > 1_000_000 or self.hidden > 16384 or self.layers > 256:
            raise UnembedError("sizes beyond any inverter (max_len, vocab_size, hidden or layers)")
        parse_widths(self.matryoshka, self.cond_dim)
        return self


# Named model shapes for `unembed train --size NAME`; any flag given beside it still wins.
MODEL_SIZES = {
    "cpu": dict(hidden=384, layers=3, heads=12, mlp_ratio=4.0),       # the shipped `en` model
    "reference": dict(hidden=768, layers=8, heads=12, mlp_ratio=4.0),  # the published inverter's shape
}


@dataclass
class AlignConfig:
    """`unembed align`: a map from another encoder's vectors into an inverter's space."""
    method: str = "lstsq"        # lstsq | procrustes | mlp
    ridge: float = 0.01          # lstsq: L2 penalty, relative to the mean squared source norm
    hidden: int = 1024           # mlp: hidden width
    steps: int = 1000            # mlp: optimizer steps
    batch: int = 1024            # mlp: pairs per step (all of them when fewer)
    lr: float = 1e-3             # mlp: learning rate
    seed: int = 0                # mlp: initialisation and batches

    METHODS = ("lstsq", "procrustes", "mlp")

    def validate(self) -> "AlignConfig":
        check_types(self)
        check([
            (self.method not in self.METHODS,
             f"unknown alignment method {self.method!r}; choose from {', '.join(self.METHODS)}"),
            (not self.ridge >= 0, "--ridge must be 0 or more"),
            (min(self.hidden, self.steps, self.batch) < 1 or not self.lr > 0,
             "hidden, steps and batch must be at least 1, lr above 0"),
        ])
        return self


@dataclass
class ScriptGateConfig:
    """`unembed script-gate`: which scripts a vector's text is in, fitted on prepared folders."""
    min_texts: int = 50          # scripts with fewer training texts are left out (never blocked)
    steps: int = 600             # optimizer steps
    batch: int = 2048            # vectors per step
    lr: float = 3e-3             # Adam learning rate
    heldout: float = 0.05        # share of the vectors kept out of the fit, to report on
    seed: int = 0                # the held-out rows, batches and Matryoshka cuts

    def validate(self) -> "ScriptGateConfig":
        check_types(self)
        if self.min_texts < 1 or self.steps < 1 or self.batch < 1 or not self.lr > 0:
            raise UnembedError("script gate: min-texts, steps and batch must be at least 1 and lr above 0")
        if not 0 <= self.heldout < 1:
            raise UnembedError(f"script gate: heldout is a share, at least 0 and below 1, got {self.heldout}")
        return self
