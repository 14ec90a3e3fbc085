"""How settings work. Every setting is a field of a dataclass beside the code it configures
(model/config.py, sampling/config.py, search/config.py, ...), with a comment that is its help
text; each class has one `validate()` that raises UnembedError, and holds every check of its
fields. This module is what they share: type checks, JSON round trips that tolerate old and
new keys, and one --flag per field on the command line."""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

from .errors import UnembedError
from .files import atomic


def check(problems: list[tuple[bool, str]], prefix: str = "") -> None:
    """Raise the first problem whose condition holds, as one line."""
    for failed, message in problems:
        if failed:
            raise UnembedError(prefix + message)


def check_types(cfg) -> None:
    """Each field has the type of its default (an int may stand for a float); else UnembedError."""
    for f in dataclasses.fields(cfg):
        value, default = getattr(cfg, f.name), f.default
        if default is dataclasses.MISSING:
            continue
        kind = type(default)
        ok = (isinstance(value, bool) if kind is bool else
              isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
              if kind is float else
              isinstance(value, int) and not isinstance(value, bool) if kind is int else
              isinstance(value, kind))
        if not ok:
            raise UnembedError(f"{f.name} must be a {kind.__name__}, got {value!r}")


def to_dict(cfg) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def from_dict(cls, values: dict[str, Any]):
    """Build a config, ignoring unknown keys (older or newer checkpoints); a field's old name
    (the class's RENAMED: old -> new) is read as its new one."""
    renamed = getattr(cls, "RENAMED", {})
    values = {renamed.get(k, k): v for k, v in values.items() if not (k in renamed and renamed[k] in values)}
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items() if k in names}
    return cls(**kwargs)


def write_json(cfg, path: Path) -> None:
    atomic.write_bytes(Path(path), (json.dumps(to_dict(cfg), indent=2) + "\n").encode())


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def field_comments(cls) -> dict[str, str]:
    """The comment after each field in the class source: the flag's help text."""
    found = (re.match(r"\s+(\w+):[^#]*#\s*(.*)$", line) for line in inspect.getsource(cls).splitlines())
    return {m.group(1): m.group(2) for m in found if m}


def add_arguments(parser: argparse.ArgumentParser, cls, skip: tuple[str, ...] = (),
                  defaults: dict[str, str] | None = None) -> None:
    """One --flag per dataclass field (underscores become dashes), default None = keep.
    `defaults`: what the help says a field's default is, where another source than the class
    decides it (a model's stored decoding settings)."""
    group = parser.add_argument_group(cls.__name__)
    comments = field_comments(cls)
    kinds = {}
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else None
        kind = {bool: _parse_bool, int: int, float: float}.get(type(default), str)
        kinds[f.name] = dict(type=float, nargs=len(default)) if isinstance(default, tuple) else dict(type=kind)
        if f.name in skip:
            continue
        shown = (defaults or {}).get(f.name, default)
        group.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None,
                           help=f"{comments.get(f.name, '')} (default: {shown})", **kinds[f.name])
    for old, new in getattr(cls, "RENAMED", {}).items():
        if new not in skip:
            group.add_argument("--" + old.replace("_", "-"), dest=new, default=None, action=_Renamed,
                               help=f"deprecated: use --{new.replace('_', '-')}", **kinds[new])


class _Renamed(argparse.Action):
    """An old flag name: still works, and says once which flag replaced it."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"unembed: {option_string} is deprecated; use --{self.dest.replace('_', '-')}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def from_args(cls, args: argparse.Namespace, **base):
    """The dataclass with defaults, then `base`, then any flag given on the command line."""
    values = {**base}
    for f in dataclasses.fields(cls):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = tuple(given) if isinstance(given, list) else given
    return from_dict(cls, values)


__all__ = ["check", "check_types", "add_arguments", "field_comments", "from_args", "from_dict", "to_dict", "write_json"]
