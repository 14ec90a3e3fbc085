"""Where work runs: the device a name stands for, and this process's place among torchrun's."""
from __future__ import annotations

import os

import torch

from ..errors import UnembedError


def rank_world() -> tuple[int, int]:
    """(rank, world size) as torchrun set them; (0, 1) for a plain process."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def local_rank() -> int:
    """This process's GPU on its machine under torchrun."""
    return int(os.environ.get("LOCAL_RANK", 0))


def resolve_device(device: str) -> torch.device:
    """auto: this process's GPU if there is one, else the CPU; a GPU asked for but absent is
    one line of error."""
    if device == "auto":
        return torch.device("cuda", local_rank()) if torch.cuda.is_available() else torch.device("cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UnembedError(f"device {device!r} asked for, but no CUDA GPU is available; use --device cpu")
    return torch.device(device)


__all__ = ["rank_world", "local_rank", "resolve_device"]
