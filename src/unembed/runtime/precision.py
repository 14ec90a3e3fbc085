"""Which number format the model's matrix products run in.

`bfloat16` autocast keeps weights, norms, softmax and the optimizer in float32 and runs the
matrix products in bfloat16. On a GPU and on CPUs with native bfloat16 instructions (AVX512-BF16,
AMX) those products are several times faster; elsewhere they are emulated and slower, so
`auto` picks bfloat16 only where the hardware has it."""
from __future__ import annotations

import contextlib

import torch

from ..errors import UnembedError

PRECISIONS = ("auto", "float32", "bfloat16")


def cpu_has_bfloat16() -> bool:
    """True when this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # a torch without these probes: assume not
        return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto` -> bfloat16 on CUDA or a bfloat16 CPU, else float32; others are checked."""
    if precision not in PRECISIONS:
        raise UnembedError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    return "bfloat16" if device.type == "cuda" or (device.type == "cpu" and cpu_has_bfloat16()) else "float32"


def autocast(device: torch.device, precision: str):
    """A context in which matrix products run at `precision` (resolved: float32 or bfloat16)."""
    if precision == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
