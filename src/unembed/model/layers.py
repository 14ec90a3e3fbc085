"""DiT-style AdaLN-Zero transformer block, bidirectional (no causal mask)."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .packing import Packing


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x (B, T, C) with shift, scale (B, 1, C); or packed x (N, C) with (N, C). Zero shift
    and scale leave x unchanged."""
    return x * (1 + scale) + shift


def per_token(v: torch.Tensor, packing: Packing | None) -> torch.Tensor:
    """A per-row modulation (B, C) shaped to meet x: (N, C) when packed, else (B, 1, C)."""
    return packing.per_token(v) if packing is not None else v.unsqueeze(1)


class SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, dropout: float = 0.0):
        super().__init__()
        assert hidden % heads == 0, "hidden must be a multiple of heads"
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, packing: Packing | None = None) -> torch.Tensor:
        """x (B, T, C), every position real; or packed (N, C) with its `packing`."""
        qkv, keys = self.qkv(x), None
        if packing is not None:
            qkv, keys = packing.unpack(qkv), packing.keys        # (B, T, 3C); padding masked
        B, T, C = qkv.shape[0], qkv.shape[1], qkv.shape[2] // 3
        q, k, v = qkv.view(B, T, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        dropout = self.dropout if self.training else 0.0
        if q.device.type == "cpu" and q.dtype == torch.bfloat16:
            y = explicit_attention(q, k, v, keys, dropout)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=keys, dropout_p=dropout)
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.proj(packing.pack(y) if packing is not None else y)


def explicit_attention(q, k, v, keys: torch.Tensor | None, dropout: float) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v as plain matrix products. torch's fused CPU kernel is slow
    in bfloat16 at these short lengths (about 4x slower than this, forward and backward)."""
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5          # (B, H, T, T)
    if keys is not None:
        scores = scores.masked_fill(~keys, float("-inf"))
    weights = F.dropout(scores.softmax(dim=-1), dropout) if dropout else scores.softmax(dim=-1)
    return weights @ v


class MLP(nn.Module):
    def __init__(self, hidden: int, ratio: float, dropout: float = 0.0):
        super().__init__()
        inner = int(hidden * ratio)
        self.fc = nn.Linear(hidden, inner)
        self.proj = nn.Linear(inner, hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        # exact GELU: torch's tanh form is 6x slower on the CPU and differs by at most 5e-4
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Modulated:
    """A layer whose `ada` maps the condition to the vectors named in MODULATIONS, in that
    order; code that edits those rows (deepening, encoder initialisation) finds them by name."""
    MODULATIONS: tuple[str, ...] = ()

    @classmethod
    def rows(cls, name: str, hidden: int) -> slice:
        i = cls.MODULATIONS.index(name)
        return slice(i * hidden, (i + 1) * hidden)

    def modulations(self, c: torch.Tensor, packing: Packing | None) -> dict[str, torch.Tensor]:
        chunks = per_token(self.ada(c), packing).chunk(len(self.MODULATIONS), dim=-1)
        return dict(zip(self.MODULATIONS, chunks))


class AdaLNZeroBlock(Modulated, nn.Module):
    """x + gate * branch(modulate(LN(x), shift, scale)) for attention and MLP; the six
    modulation vectors come from the condition c, and are zero at initialisation."""
    MODULATIONS = ("shift1", "scale1", "gate1", "shift2", "scale2", "gate2")

    def __init__(self, hidden: int, heads: int, mlp_ratio: float, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(hidden, heads, dropout)
        self.norm2 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.mlp = MLP(hidden, mlp_ratio, dropout)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(hidden, len(self.MODULATIONS) * hidden))

    def forward(self, x: torch.Tensor, c: torch.Tensor, packing: Packing | None = None) -> torch.Tensor:
        """x (B, T, C), or packed (N, C); c (B, C)."""
        m = self.modulations(c, packing)
        x = x + m["gate1"] * self.attn(modulate(self.norm1(x), m["shift1"], m["scale1"]), packing)
        x = x + m["gate2"] * self.mlp(modulate(self.norm2(x), m["shift2"], m["scale2"]))
        return x


class FinalNorm(Modulated, nn.Module):
    """LayerNorm modulated by the condition (shift, scale), before the output projection."""
    MODULATIONS = ("shift", "scale")

    def __init__(self, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(hidden, len(self.MODULATIONS) * hidden))

    def forward(self, x, c, packing: Packing | None = None):
        m = self.modulations(c, packing)
        return modulate(self.norm(x), m["shift"], m["scale"])


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features of t in [0, 1] (scaled to [0, 1000] as in DiT). (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = 1000.0 * t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
