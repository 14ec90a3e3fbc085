"""How a model's weights are stored: float32, float16, bfloat16, or int8 with one scale per
output channel (row), dequantised at load. int8 keeps every matrix (linear maps, the token
table) at a quarter of float32; vectors (biases, the segment) stay float16, being tiny.

An int8 file holds, for each quantised matrix W (R, C), `name` as int8 and `name:scale`
(R,) float32 with W ~ int8 * scale[:, None]; its metadata says `format: int8-rowwise`."""
from __future__ import annotations

import torch

STORAGE = ("float32", "float16", "bfloat16", "int8")
SCALE = ":scale"   # a key suffix no parameter name can have
INT8_FORMAT = "int8-rowwise"


def pack(state: dict[str, torch.Tensor], storage: str | None) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A state dict as the tensors to write, and the file's metadata."""
    if storage is not None and storage not in STORAGE:
        raise ValueError(f"unknown weight storage {storage!r}; choose from {', '.join(STORAGE)}")
    out = {}
    for name, value in state.items():
        value = value.detach().cpu()
        if not value.is_floating_point() or storage is None:
            out[name] = value.contiguous()
        elif storage != "int8":
            out[name] = value.to(getattr(torch, storage)).contiguous()
        elif value.dim() >= 2:
            rows = value.float().reshape(value.shape[0], -1)
            scale = rows.abs().amax(dim=1).clamp(min=1e-12) / 127.0                 # (R,)
            out[name] = (rows / scale[:, None]).round().clamp(-127, 127).to(torch.int8).reshape(value.shape)
            out[name + SCALE] = scale
        else:
            out[name] = value.to(torch.float16).contiguous()
    return out, ({"format": INT8_FORMAT} if storage == "int8" else {})


def unpack(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The float32 state dict of written tensors (int8 matrices times their row scales)."""
    state = {}
    for name, value in tensors.items():
        if name.endswith(SCALE):
            continue
        scale = tensors.get(name + SCALE)
        if scale is not None:
            if value.dtype != torch.int8 or scale.shape != value.shape[:1]:
                raise ValueError(f"{name}: an int8 matrix needs one scale per row")
            value = value.float() * scale.float().view(-1, *[1] * (value.dim() - 1))
        elif value.dtype == torch.int8:
            raise ValueError(f"{name} is int8 without its {name}{SCALE}")
        state[name] = value.float() if value.is_floating_point() or value.dtype == torch.int8 else value
    return state


__all__ = ["STORAGE", "pack", "unpack"]
