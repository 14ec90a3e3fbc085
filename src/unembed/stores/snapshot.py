"""A consistent private copy of a store folder, for clients that cannot open a folder without
writing to it (Chroma's PersistentClient rewrites `chroma.sqlite3` and its segments' files on
open; Qdrant's local mode creates and locks `.lock`).

    with FolderCopy(path, "chroma") as copy:
        client = chromadb.PersistentClient(str(copy.path))

SQLite databases are copied with SQLite's online backup from a read-only (`mode=ro`)
connection, so a copy taken while the application writes is one committed state; every other
file is copied as it is, after the databases (a segment file newer than the database only holds
rows the copy's database does not list). The copy lives under the system's temporary folder
(`TMPDIR`) and is removed on close, on interrupt and at exit. It costs the folder's size in disk
and about the time to read it once (bench/store_read.py measures both)."""
from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
import weakref
from pathlib import Path
from urllib.parse import quote

from ..errors import UnembedError

logger = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
# a live database's companions: the backup reads through them, a copy needs none of them
SKIPPED_SUFFIXES = ("-journal", "-wal", "-shm")
SKIPPED_NAMES = (".lock",)
PREFIX = "unembed-store-"                        # + the reading process's pid


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to someone else
        return True
    return True


def remove_orphans(parent: Path) -> None:
    """Copies left by readers that were killed outright (SIGKILL runs no clean-up)."""
    for folder in parent.glob(f"{PREFIX}*-*"):
        pid = folder.name[len(PREFIX):].split("-")[0]
        if pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def is_sqlite(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(16) == SQLITE_MAGIC


def in_wal_mode(path: Path) -> bool:
    """Bytes 18-19 of the header are 2 for write-ahead logging. A reader of such a database must
    write its -shm file, so it cannot be read without writing beside it."""
    with open(path, "rb") as f:
        header = f.read(20)
    return len(header) == 20 and header[18] == 2 and header[19] == 2


class FolderCopy:
    """`path`'s files copied into a fresh temporary folder (`.path`), removed by close()."""

    def __init__(self, source: str | os.PathLike, what: str):
        self.source, self.what = Path(source), what
        files = [p for p in sorted(self.source.rglob("*")) if p.is_file() and not self._skipped(p)]
        databases = [p for p in files if is_sqlite(p)]
        for db in databases:  # refused before anything is opened or copied
            if in_wal_mode(db):
                raise UnembedError(f"{what}: {db.name} is in SQLite's WAL mode, which cannot be read without "
                                   "writing beside it; stop the application, copy the folder, and read the copy")
        size = sum(p.stat().st_size for p in files)
        parent = Path(tempfile.gettempdir())
        if shutil.disk_usage(parent).free < size * 1.1 + (64 << 20):
            raise UnembedError(f"{what}: reading it needs a private copy of {size / 1e9:.2f} GB, more than "
                               f"{parent} has free; point TMPDIR at a folder with room")
        remove_orphans(parent)
        self.path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent))
        self._remove = weakref.finalize(self, shutil.rmtree, str(self.path), ignore_errors=True)
        try:
            for db in databases:
                self._backup(db, self.path / db.relative_to(self.source))
            for p in files:
                if p not in databases:
                    target = self.path / p.relative_to(self.source)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(p, target)
        except BaseException:
            self.close()
            raise
        self.bytes = size
        logger.info("read %s through a private copy of %.1f MB at %s", what, size / 1e6, self.path)

    @staticmethod
    def _skipped(path: Path) -> bool:
        return path.name in SKIPPED_NAMES or path.name.endswith(SKIPPED_SUFFIXES)

    def _backup(self, db: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        # mode=ro: this connection can take no write lock and never rolls a journal back into db
        source = sqlite3.connect(f"file:{quote(str(db.resolve()))}?mode=ro", uri=True, timeout=30)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        except sqlite3.Error as exc:
            raise UnembedError(f"{self.what}: cannot read {db.name} read-only ({exc}); "
                               "if the application is writing, try again when it is idle") from None
        finally:
            copy.close()
            source.close()

    def close(self) -> None:
        self._remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
