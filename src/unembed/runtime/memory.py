"""How much memory a process holds: for training logs and the bench scripts."""
from __future__ import annotations

from pathlib import Path


def resident_mb(pid: int | str = "self") -> float | None:
    """A process's resident set now, in MiB (Linux's /proc); None where it cannot be read.
    The current figure, not the peak, so that a log shows growth over a run."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


__all__ = ["resident_mb"]
