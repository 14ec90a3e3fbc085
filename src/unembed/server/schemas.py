"""Request bodies. Unknown keys are refused, so a misspelt option is reported, not ignored."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict

SAMPLING_KEYS = ("strategy", "steps", "temperature", "repetition_penalty", "seed",
                 "candidates", "rounds", "encoder_budget")


class Decoding(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = None                 # a name from GET /v1/models (default: the first)
    strategy: str | None = None              # confidence, sequential, euler, remask, two-stage, refine
    steps: int | None = None                 # denoising steps, 1..max_len
    temperature: float | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    candidates: int | None = None            # refine only
    rounds: int | None = None                # refine only
    encoder_budget: int | None = None        # refine only: most encoder calls per text

    def sampling(self) -> dict:
        """The decoding settings given; the model's defaults stand for the others."""
        return {k: getattr(self, k) for k in SAMPLING_KEYS if getattr(self, k) is not None}


class EmbedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str]
    model: str | None = None


class InvertRequest(Decoding):
    vectors: list[list[float]]


class StreamRequest(Decoding):
    text: str | None = None                  # embed this text, then invert it (the page's round trip)
    vector: list[float] | None = None        # or invert this vector
