"""torchrun / DDP helpers: a no-op on one process."""
from __future__ import annotations

import torch
import torch.distributed as dist

from ..runtime.devices import rank_world


def setup(device: torch.device) -> tuple[int, int]:
    """Join the process group if torchrun started us; returns (rank, world size)."""
    world = rank_world()[1]
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def any_true(flag: bool, device: torch.device) -> bool:
    """True on every rank if it is true on any (to stop together)."""
    if not dist.is_initialized():
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
