"""What training steps draw from: rows of model codes with their vectors. An inverter's row
is a text and its vector; a corrector's row is a hypothesis (its codes and embedding) with the
reference it should become and the reference's vector."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data import cache
from ..corrector.data import KINDS, is_corrections, load_corrections
from ..errors import UnembedError
from ..text.codes import PAD
from ..text.vocabulary import Vocabulary


class Examples:
    def __init__(self, codes: np.ndarray, vectors: np.ndarray, hypotheses: np.ndarray | None = None,
                 hypothesis_vectors: np.ndarray | None = None):
        """codes (N, L) references, PAD after each; vectors (N, D); a corrector's rows also
        hold hypotheses (N, L) and their embeddings (N, D)."""
        self.codes = torch.from_numpy(np.asarray(codes, dtype=np.int64))
        self.vectors = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
        self.hypotheses = None if hypotheses is None else torch.from_numpy(np.asarray(hypotheses, dtype=np.int64))
        self.hypothesis_vectors = (None if hypothesis_vectors is None else
                                   torch.from_numpy(np.ascontiguousarray(hypothesis_vectors, dtype=np.float32)))
        self.lengths = (self.codes != PAD).sum(dim=1)                  # (N,)

    @classmethod
    def load(cls, folder: str | Path, split: str, vocab: Vocabulary,
             kinds: tuple[str, ...] = KINDS) -> "Examples":
        """A prepared dataset's split, or a corrections folder's (its hypotheses of `kinds`)."""
        if is_corrections(folder):
            d = load_corrections(folder, split, kinds)
            return cls(d["refs"][d["source"]], d["targets"][d["source"]], d["hyps"], d["hyp_vectors"])
        ids, vectors = cache.load_split(Path(folder), split)
        return cls(vocab.ids_to_codes(ids, cache.PAD_ID), vectors)

    def joined(self, other: "Examples", repeats: int = 1) -> "Examples":
        """These rows followed by `other`'s, repeated: a mixture in which `other` weighs more.
        Both are a corrector's rows (hypotheses and all) or both an inverter's."""
        if self.corrects != other.corrects:
            raise UnembedError("--mix joins prepared datasets with prepared datasets, corrections with corrections")
        if other.codes.shape[1] != self.codes.shape[1] or other.vectors.shape[1] != self.vectors.shape[1]:
            raise UnembedError(f"--mix: rows of length {other.codes.shape[1]} and width {other.vectors.shape[1]} "
                               f"do not join rows of {self.codes.shape[1]} and {self.vectors.shape[1]}; "
                               "prepare both with the same --max-len and encoder")
        joined = Examples.__new__(Examples)
        joined.codes = torch.cat([self.codes] + [other.codes] * repeats)
        joined.vectors = torch.cat([self.vectors] + [other.vectors] * repeats)
        joined.hypotheses = joined.hypothesis_vectors = None
        if self.corrects:
            joined.hypotheses = torch.cat([self.hypotheses] + [other.hypotheses] * repeats)
            joined.hypothesis_vectors = torch.cat([self.hypothesis_vectors] + [other.hypothesis_vectors] * repeats)
        joined.lengths = torch.cat([self.lengths] + [other.lengths] * repeats)
        return joined

    @property
    def corrects(self) -> bool:
        return self.hypotheses is not None

    def __len__(self) -> int:
        return len(self.codes)

    def batch(self, idx, width: int, device) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Rows `idx`: codes (B, width), vectors (B, D), and the corrector's inputs as keyword
        arguments of the model (hypotheses cut to their longest row)."""
        idx = torch.as_tensor(idx)
        extra = {}
        if self.corrects:
            hyps = self.hypotheses[idx]
            longest = max(1, int((hyps != PAD).sum(dim=1).max()))
            extra = {"hypothesis": hyps[:, :longest].to(device),
                     "hypothesis_vectors": self.hypothesis_vectors[idx].to(device)}
        return self.codes[idx, :width].to(device), self.vectors[idx].to(device), extra


__all__ = ["Examples"]
