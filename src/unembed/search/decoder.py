"""The seam between a decoder and a search over it.

A search (search/correct.py) never holds a model: it asks a `Decoder` to fill masked codes
for vectors, and an encoder to embed what comes back. Every model folder loads as one
(inverter.py); a corrector is a second one, whose `denoise` also reads a hypothesis.
The protocol lists all a search may use, so that a new decoder (another architecture, a
remote model) needs only these."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Decoder(Protocol):
    vocab: object       # text <-> codes: .encode(texts, max_len) -> (N, L) codes, .decode(codes) -> text, .pieces(ids)
    decoding: object    # its own decoding defaults (DecodeConfig): a corrector's may differ from its inverter's

    @property
    def max_len(self) -> int:
        """The most tokens it writes."""

    def length_guesses(self, vectors: torch.Tensor, k: int) -> torch.Tensor:
        """(B, k): the `k` most likely text lengths for each of vectors (B, D), most likely first;
        (B, 1) of max_len for a decoder that cannot guess."""

    def blank(self, vectors: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """All-[MASK] codes (B, longest) of each row's length (`lengths`, or its best guess), PAD after."""

    def denoise(self, vectors: torch.Tensor, codes: torch.Tensor, sampler, steps: int, callback=None,
                hypothesis: torch.Tensor | None = None,
                hypothesis_vectors: torch.Tensor | None = None) -> torch.Tensor:
        """Fill the [MASK] positions of codes (B, L) in `steps` calls with `sampler` (sampling/),
        which then holds each written token's probability in `.confidence`. A corrector also
        reads each row's hypothesis codes (B, H) and their embeddings (B, D)."""

    def token_prior(self, vectors: torch.Tensor) -> torch.Tensor:
        """(B, V) logits: how likely each vocabulary piece is to occur in each vector's text."""


__all__ = ["Decoder"]
