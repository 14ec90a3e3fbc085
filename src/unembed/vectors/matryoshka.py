"""Matryoshka prefixes: one inverter for a vector and its shorter cuts. Encoders such as
EmbeddingGemma are trained so that the first 512, 256 or 128 components, renormalised, are a
usable embedding on their own. A model trained with `--matryoshka 128,256,512` sees its training
vectors cut to a random one of those widths (or left whole), renormalised and padded with zeros
to its full width; a cut vector given at inference is padded the same way."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import UnembedError
from .geometry import unit_rows


def matryoshka_cut(vectors: np.ndarray, dim: int, renormalise: bool = True) -> np.ndarray:
    """The first `dim` components, renormalised as the Matryoshka model cards prescribe. (N, dim)"""
    if not dim or dim >= vectors.shape[1]:
        return vectors
    cut = np.ascontiguousarray(vectors[:, :dim])
    return unit_rows(cut).astype(cut.dtype) if renormalise else cut


def parse_widths(spec: str, full: int | None = None) -> tuple[int, ...]:
    """"128,256,512" -> (128, 256, 512); ValueError (one line) for anything else, or for a
    width not below the full one."""
    try:
        widths = tuple(sorted({int(w) for w in spec.split(",") if w.strip()}))
    except ValueError:
        raise ValueError(f"matryoshka: {spec!r} is not a comma-separated list of widths") from None
    if any(w <= 0 or (full is not None and w >= full) for w in widths):
        raise ValueError(f"matryoshka: every width must lie between 1 and {full - 1 if full else 'the full one'}: {spec!r}")
    return widths


def pad_prefixes(vectors: np.ndarray, full: int, widths: tuple[int, ...]) -> np.ndarray:
    """(N, w) Matryoshka prefixes -> (N, full): renormalised, zeros after. Vectors already of the
    full width pass through. A width the model was not trained on is refused in one line."""
    w = vectors.shape[1]
    if w == full:
        return vectors
    if w not in widths:
        trained = ", ".join(map(str, widths + (full,))) if widths else str(full)
        raise UnembedError(f"vectors have dimension {w} but this model reads {trained}-d ones; "
                           "cut them to one of those widths, or use the inverter trained for that encoder")
    padded = np.zeros((len(vectors), full), dtype=np.float32)
    padded[:, :w] = unit_rows(vectors)
    return padded


def cut_at_random(vectors: torch.Tensor, widths: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Training: each row kept whole or cut to one of `widths` (each choice equally likely),
    renormalised, zeros after. (B, D) -> (B, D)"""
    if not widths:
        return vectors
    full = vectors.shape[1]
    choices = torch.tensor(widths + (full,))
    keep = choices[torch.randint(len(choices), (len(vectors),), generator=generator)].to(vectors.device)
    mask = torch.arange(full, device=vectors.device)[None, :] < keep[:, None]
    cut = vectors * mask
    return cut / cut.norm(dim=1, keepdim=True).clamp_min(1e-12)


__all__ = ["matryoshka_cut", "parse_widths", "pad_prefixes", "cut_at_random"]
