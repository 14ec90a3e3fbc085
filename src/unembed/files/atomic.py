"""Writing files and folders so that a crash or a full disk leaves the old version or the new
one whole, never a half-written mix. Every writer in the package goes through here."""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import UnembedError


def _atomic(path: Path, suffix: str, write) -> None:
    """write(tmp) then rename over path; a failed write (disk full) leaves no partial file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{suffix}")
    try:
        write(tmp)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UnembedError(f"could not write {path} ({exc.strerror or exc}); free space and rerun: "
                           "what was written before is kept") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_bytes(path: Path, data: bytes) -> None:
    _atomic(path, ".tmp", lambda tmp: tmp.write_bytes(data))


def save_npy(path: Path, array: np.ndarray) -> None:
    _atomic(path, ".tmp.npy", lambda tmp: np.save(tmp, array))


def replace_dir(tmp: Path, final: Path) -> None:
    """Swap a finished folder into place; a crash leaves either the old or the new one."""
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old)


@contextmanager
def folder(final: str | Path) -> Iterator[Path]:
    """Yields an empty folder beside `final`; when the block ends it replaces `final` whole,
    and when the block fails it is removed and `final` is left as it was."""
    final = Path(final)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, final)


__all__ = ["write_bytes", "save_npy", "replace_dir", "folder"]
