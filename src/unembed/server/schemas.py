"""Request bodies. Unknown keys are refused, so a misspelt option is reported, not ignored.
The decoding and search options are DecodeConfig's and SearchConfig's fields, derived from the
dataclasses so they never drift; each is optional and the model's defaults stand for those not
given."""
from __future__ import annotations

import dataclasses

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..sampling.config import DecodeConfig
from ..search.config import SearchConfig
from ..config import field_comments


class _Decoding(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = None                 # a name from GET /v1/models (default: the first)

    def sampling(self) -> dict:
        """The decoding settings given; the model's defaults stand for the others."""
        return {k: getattr(self, k) for k in SAMPLING_KEYS if getattr(self, k) is not None}


_FIELDS = dataclasses.fields(DecodeConfig) + dataclasses.fields(SearchConfig)
SAMPLING_KEYS = tuple(f.name for f in _FIELDS)
_COMMENTS = {**field_comments(DecodeConfig), **field_comments(SearchConfig)}
Decoding = create_model(
    "Decoding", __base__=_Decoding,
    **{f.name: (type(f.default) | None, Field(None, description=_COMMENTS.get(f.name))) for f in _FIELDS})


class EmbedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str]
    model: str | None = None


class InvertRequest(Decoding):
    vectors: list[list[float]]


class StreamRequest(Decoding):
    text: str | None = None                  # embed this text, then invert it (the page's round trip)
    vector: list[float] | None = None        # or invert this vector
