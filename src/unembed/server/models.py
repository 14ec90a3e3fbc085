"""The models a server offers, by name, each loaded on first use and then shared."""
from __future__ import annotations

from ..model.align import AlignMap
import threading

import torch
from fastapi import HTTPException

from ..errors import UnembedError
from ..files.checkpoints import SHIPPED, resolve_checkpoint
from ..inverter import Inverter, settings_dict
from ..runtime.precision import resolve_precision
from ..sampling import STRATEGIES


def shipped_models() -> list[str]:
    return sorted(p.name for p in SHIPPED.iterdir() if (p / "config.json").is_file()) if SHIPPED.is_dir() else []


class ModelRegistry:
    def __init__(self, specs: dict[str, str] | None, device: str = "auto",
                 aligns: dict[str, str] | None = None, precision: str = "auto"):
        """specs: name -> checkpoint folder or shipped name; the first is the default. aligns:
        name -> alignment map folder, for the models that read another encoder's vectors.
        Every folder is checked now, so a wrong path stops the server before it starts."""
        self.specs = dict(specs) if specs else {name: name for name in shipped_models()}
        if not self.specs:
            raise UnembedError("no model to serve: pass --model NAME_OR_FOLDER")
        for spec in self.specs.values():
            resolve_checkpoint(spec)
        self.aligns = dict(aligns or {})
        for name, folder in self.aligns.items():
            if name not in self.specs:
                raise UnembedError(f"--align {name}=...: no model named {name!r} is served")
            AlignMap.from_pretrained(folder)
        self.default = next(iter(self.specs))
        resolve_precision(precision, torch.device("cpu"))  # a bad name stops the server now
        self.device, self.precision = device, precision
        self._loaded: dict[str, Inverter] = {}
        self._lock = threading.Lock()

    def get(self, name: str | None) -> tuple[str, Inverter]:
        name = name or self.default
        if name not in self.specs:
            raise HTTPException(404, f"model {name!r} is not served here; GET /v1/models lists those that are")
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = Inverter.from_pretrained(self.specs[name], device=self.device,
                                                              align=self.aligns.get(name),
                                                              precision=self.precision)
        return name, self._loaded[name]

    def describe(self) -> list[dict]:
        rows = []
        for name in self.specs:
            _, inverter = self.get(name)
            c = inverter.model.config
            rows.append({"name": name, "default": name == self.default, "encoder": c.encoder,
                         "encoder_prompt": c.encoder_prompt, "encoder_dim": c.encoder_dim,
                         "dim": inverter.input_dim, "dims": list(inverter.input_dims), "max_len": c.max_len,
                         "strategies": [s for s in STRATEGIES if s != "correct" or inverter.has_corrector],
                         "sampling": settings_dict(inverter.settings),
                         "align": inverter.align and {"map": self.aligns[name], "method": inverter.align.method,
                                                      **inverter.align.info}})
        return rows
