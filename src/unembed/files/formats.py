"""What a saved folder is. Every config.json and meta.json the package writes begins with the
folder's type and format version, and every reader checks them, so that one kind of folder
given where another is expected is one clear line instead of a confusing failure later."""
from __future__ import annotations

from pathlib import Path

from ..errors import UnembedError

# the format version each kind of folder is written in; raise one when its layout changes
FORMATS = {
    "model": 1,        # an inverter or a corrector: config.json + model.safetensors or its shards (+ vocabulary)
    "align-map": 1,    # `unembed align`: config.json + map.safetensors
    "script-gate": 1,  # `unembed script-gate`: a model folder's script_gate/, config.json + gate.safetensors
    "run": 1,          # `unembed train`: config.json (settings) + last/ + best/ + log.jsonl
    "prepared": 1,     # `unembed prepare`: meta.json + shards
    "corrections": 1,  # `unembed corrections`: meta.json + shards
}


def header(kind: str) -> dict:
    """The first keys of a folder's config: {"type": "unembed/KIND", "format": N}."""
    return {"type": f"unembed/{kind}", "format": FORMATS[kind]}


def check(values: dict, kinds: str | tuple[str, ...], where: str | Path) -> None:
    """One line of error when `values` (a folder's config) says it is another kind of folder,
    or a newer format than this version reads. Folders written before the header existed
    (no "type") are taken as format 1."""
    kinds = (kinds,) if isinstance(kinds, str) else kinds
    found = values.get("type")
    if found is None:
        return
    kind = found.removeprefix("unembed/") if isinstance(found, str) else None
    if kind not in kinds:
        raise UnembedError(f"{where} is {_a(kind) if kind in FORMATS else 'an unknown ' + repr(found)} folder, "
                           f"not {' or '.join(map(_a, kinds))} folder")
    if not isinstance(values.get("format"), int) or values["format"] > FORMATS[kind]:
        raise UnembedError(f"{where}: format {values.get('format')!r} of {kind} folders is newer than this "
                           f"unembed reads ({FORMATS[kind]}); upgrade unembed")


def _a(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


__all__ = ["FORMATS", "header", "check"]
