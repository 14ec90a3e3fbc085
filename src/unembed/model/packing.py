"""Rows of unequal length as one sequence of their real tokens.

A decoding batch holds texts of many lengths; padded to the longest, 64 held-out texts are
about 40% padding. The per-token layers (norms, linear maps, MLP) run on the real tokens
only; attention, the one layer that mixes positions, unpacks them into the padded layout and
masks the padding out."""
from __future__ import annotations

import torch


class Packing:
    def __init__(self, lengths: torch.Tensor, width: int):
        """lengths (B,): real tokens in each row, prefix included; width: the padded length T."""
        self.keep = torch.arange(width, device=lengths.device) < lengths[:, None]   # (B, T)
        self.index = self.keep.flatten().nonzero().squeeze(1)       # (N,) flat (B*T) position
        self.rows = self.index // width                              # (N,) the row of each token
        self.keys = self.keep[:, None, None, :]                      # (B, 1, 1, T) for attention

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, ...) -> (N, ...): the real tokens, row after row."""
        return x.flatten(0, 1).index_select(0, self.index)

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (B, T, ...), zeros at the padding."""
        B, T = self.keep.shape
        flat = x.new_zeros((B * T, *x.shape[1:])).index_copy(0, self.index, x)
        return flat.view(B, T, *x.shape[1:])

    def per_token(self, v: torch.Tensor) -> torch.Tensor:
        """A per-row value (B, ...) repeated for each of the row's tokens: (N, ...)."""
        return v.index_select(0, self.rows)
