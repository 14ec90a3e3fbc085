"""Encoder-guided decoding: propose texts, embed them with the target encoder, keep the best by
cosine to the target, propose again from the best. The strategies of this family (`correct`,
`refine`) differ only in how they propose; this holds what they share: the encoder (the
checkpoint's, or any function texts -> vectors), the budget of encoder calls per vector, and
every text embedded so far with its score.

A round callback sees (round, best texts (B), their cosines (B), encoder calls so far (B))
after every round: round 0 is the plain decode."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ..text.codes import PAD
from ..errors import UnembedError
from ..vectors.geometry import unit_rows

# (round, each vector's best text so far, its cosine, the vector's calls so far, what wrote that text)
RoundCallback = Callable[[int, list[str], list[float], list[int], list[str]], None]


class CallableEncoder:
    """Any function texts -> (N, D) vectors (a user's own client for an embedding API), with the
    `encode` method the rest of the package calls."""

    def __init__(self, function: Callable, name: str = "callable"):
        self.function, self.name = function, name

    def encode(self, texts: list[str], batch_size: int = 64, **_) -> np.ndarray:
        return np.asarray(self.function(list(texts)), dtype=np.float32)


def as_encoder(encoder):
    """An object with `.encode(texts)`: an encoder as given, or a plain function wrapped."""
    if encoder is None or hasattr(encoder, "encode"):
        return encoder
    if callable(encoder):
        return CallableEncoder(encoder)
    raise UnembedError(f"encoder must have an encode(texts) method or be a function texts -> vectors, "
                       f"got {type(encoder).__name__}")


@dataclass
class Candidate:
    """One embedded text of one vector."""
    text: str
    codes: list[int]                   # model codes, no padding
    cosine: float
    embedding: np.ndarray              # (D,) unit
    confidence: list[float] = field(default_factory=list)   # per token, when the decoder gave it
    kind: str = "decode"               # what wrote it: the plain decode, or a proposal kind (steer, lm, ...)


class Population:
    """Per target vector, every distinct text embedded so far; embeds only new texts, and never
    more than `budget` per vector."""

    def __init__(self, encoder, targets: np.ndarray, budget: int, vocab, dim: int):
        if budget < 1:
            raise UnembedError(f"encoder budget must be at least 1, got {budget}")
        self.targets = unit_rows(targets)                                 # (B, D)
        self.encoder, self.budget, self.vocab, self.dim = encoder, budget, vocab, dim
        self.seen: list[dict[str, Candidate]] = [dict() for _ in range(len(targets))]

    def calls(self) -> list[int]:
        return [len(s) for s in self.seen]

    def remaining(self, b: int) -> int:
        return self.budget - len(self.seen[b])

    def add(self, rows: list[int], codes: torch.Tensor, confidence: torch.Tensor | None = None,
            kinds: list[str] | None = None) -> int:
        """Score decoded texts: codes (n, L) for the vectors `rows` (n,), written by `kinds` (n,)
        (default: the plain decode). A text new for its vector is embedded while that vector
        has budget left; others are dropped. Returns how many were embedded."""
        codes_np = codes.cpu().numpy()
        new: list[tuple[int, str, list[int], list[float], str]] = []
        planned, queued = [len(s) for s in self.seen], set()
        for i, (b, row) in enumerate(zip(rows, codes_np)):
            kept = row[row != PAD]
            text = self.vocab.decode(kept)
            if text in self.seen[b] or (b, text) in queued or planned[b] >= self.budget:
                continue
            planned[b] += 1
            queued.add((b, text))
            conf = confidence[i][torch.from_numpy(row != PAD)].tolist() if confidence is not None else []
            new.append((b, text, kept.tolist(), conf, kinds[i] if kinds else "decode"))
        if not new:
            return 0
        vectors = np.asarray(self.encoder.encode([t or " " for _, t, _, _, _ in new]), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(new), self.dim):
            raise UnembedError(f"the encoder returned vectors of shape {tuple(vectors.shape)} for "
                               f"{len(new)} texts; this inverter reads {self.dim}-d vectors")
        vectors = unit_rows(vectors)
        for (b, text, kept, conf, kind), v in zip(new, vectors):
            self.seen[b][text] = Candidate(text, kept, float(v @ self.targets[b]), v, conf, kind)
        return len(new)

    def best(self, b: int, k: int = 1) -> list[Candidate]:
        """The `k` candidates of vector b with the highest cosine, best first."""
        return sorted(self.seen[b].values(), key=lambda c: -c.cosine)[:k]

    def report(self, callback: RoundCallback | None, round_: int) -> None:
        if callback is None:
            return
        tops = [self.best(b)[0] if self.seen[b] else None for b in range(len(self.seen))]
        callback(round_, [t.text if t else "" for t in tops], [t.cosine if t else float("nan") for t in tops],
                 self.calls(), [t.kind if t else "" for t in tops])

    def best_codes(self, max_len: int) -> torch.Tensor:
        """Each vector's best text as codes (B, max_len), PAD after."""
        out = torch.full((len(self.seen), max_len), PAD, dtype=torch.long)
        for b in range(len(self.seen)):
            codes = self.best(b)[0].codes[:max_len] if self.seen[b] else []
            out[b, :len(codes)] = torch.tensor(codes, dtype=torch.long)
        return out


def least_confident(confidence: list[float], share: float, noise: float,
                    generator: torch.Generator) -> set[int]:
    """The positions to mask again: the `share` of a text's tokens (at least one) of lowest
    confidence, with Gumbel noise of scale `noise` on the log-confidence, so that repeated
    picks from the same text differ."""
    score = torch.tensor(confidence).clamp(min=1e-6).log()
    score = score - noise * torch.empty(len(confidence)).exponential_(generator=generator).log()
    return set(score.argsort()[:max(1, round(len(confidence) * share))].tolist())


def pad_rows(rows: list[list[int]], device=None) -> torch.Tensor:
    """Codes of unequal length as (n, longest), PAD after each."""
    longest = max(1, max(len(r) for r in rows))
    return torch.tensor([r + [PAD] * (longest - len(r)) for r in rows], dtype=torch.long, device=device)


__all__ = ["CallableEncoder", "Candidate", "Population", "RoundCallback", "as_encoder", "least_confident",
           "pad_rows"]
