"""Run checkpoints, written atomically, resumed exactly. No pickles: tensors go to
safetensors, everything else to JSON.

    run/last/model/         the EMA model folder (what `unembed.load` reads)
    run/last/train_state/   raw weights, optimizer moments, step, data cursor, RNG states
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..files import atomic
from ..errors import UnembedError


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    state = optimizer.state_dict()
    tensors = {f"{idx}.{key}": value.detach().cpu().contiguous()
               for idx, slots in state["state"].items() for key, value in slots.items()}
    return tensors, {"param_groups": state["param_groups"]}


def _unflatten_optimizer(tensors: dict, meta: dict) -> dict:
    state: dict = {}
    for name, value in tensors.items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(run: Path, save_model, model: torch.nn.Module, optimizer, state: dict,
                    generator: torch.Generator) -> None:
    """save_model(folder) writes the model folder; the rest is training state. last/ is
    replaced whole (files/atomic.py), or left as it was when a write fails."""
    for stale in run.glob(".last.tmp-*"):  # left by a run killed while saving
        shutil.rmtree(stale, ignore_errors=True)
    try:
        with atomic.folder(run / "last") as tmp:
            save_model(tmp / "model")
            train_state = tmp / "train_state"
            train_state.mkdir(parents=True)
            save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                      str(train_state / "weights.safetensors"))
            tensors, meta = _flatten_optimizer(optimizer)
            tensors["rng.torch"] = torch.get_rng_state()
            tensors["rng.generator"] = generator.get_state()
            save_file(tensors, str(train_state / "optimizer.safetensors"))
            (train_state / "state.json").write_text(json.dumps({**state, **meta}, indent=1))
    except Exception as exc:  # disk full, file too large, quota (safetensors has its own error type)
        kept = "the previous checkpoint in last/ is intact" if (run / "last").exists() else "no checkpoint yet"
        raise write_failed("the checkpoint", state.get("step"), run, kept, exc) from None


def write_failed(what: str, step, run: Path, kept: str, exc: Exception) -> UnembedError:
    """The one line a run stops with when a write fails (disk full, file too large, quota)."""
    return UnembedError(f"could not write {what} at step {step} in {run} "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}); "
                        f"{kept}; free space and rerun to resume")


def find_checkpoint(run: Path) -> Path | None:
    for name in ("last", "last.old"):  # .old survives a crash between the two renames
        if (run / name / "train_state" / "state.json").is_file():
            return run / name
    return None


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizer, generator: torch.Generator) -> dict:
    train_state = folder / "train_state"
    model.load_state_dict(load_file(str(train_state / "weights.safetensors")))
    meta = json.loads((train_state / "state.json").read_text())
    tensors = load_file(str(train_state / "optimizer.safetensors"))
    torch.set_rng_state(tensors.pop("rng.torch"))
    generator.set_state(tensors.pop("rng.generator"))
    optimizer.load_state_dict(_unflatten_optimizer(tensors, meta))
    return meta


def numpy_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def set_numpy_state(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state
