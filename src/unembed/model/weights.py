"""How a model's weights are stored: float32, float16, bfloat16, or int8 with one scale per
output channel (row), dequantised at load. int8 keeps every matrix (linear maps, the token
table) at a quarter of float32; vectors (biases, the segment) stay float16, being tiny.

An int8 file holds, for each quantised matrix W (R, C), `name` as int8 and `name:scale`
(R,) float32 with W ~ int8 * scale[:, None]; its metadata says `format: int8-rowwise`.

On disk: one `model.safetensors`, or, where that would pass MAX_FILE_BYTES (a large vocabulary),
the tensors split over `model-00001-of-0000N.safetensors` files named by
`model.safetensors.index.json` (the Hugging Face layout), so no file of a shipped model is
one that git hosts refuse or warn about. A tensor larger than a shard by itself (the token table
of a grown vocabulary) is cut by rows into `name:rows0`, `name:rows1`, ... and joined on read."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

STORAGE = ("float32", "float16", "bfloat16", "int8")
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
MAX_FILE_BYTES = 19_000_000   # a shard's tensors at most (GitHub warns at 50 MB; the repo's rule is 20)
SCALE = ":scale"   # a key suffix no parameter name can have
ROWS = ":rows"     # likewise: the row blocks of a tensor too large for one shard
INT8_FORMAT = "int8-rowwise"


def pack(state: dict[str, torch.Tensor], storage: str | None) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A state dict as the tensors to write, and the file's metadata."""
    if storage is not None and storage not in STORAGE:
        raise ValueError(f"unknown weight storage {storage!r}; choose from {', '.join(STORAGE)}")
    out = {}
    for name, value in state.items():
        value = value.detach().cpu()
        if not value.is_floating_point() or storage is None:
            out[name] = value.contiguous()
        elif storage != "int8":
            out[name] = value.to(getattr(torch, storage)).contiguous()
        elif value.dim() >= 2:
            rows = value.float().reshape(value.shape[0], -1)
            scale = rows.abs().amax(dim=1).clamp(min=1e-12) / 127.0                 # (R,)
            out[name] = (rows / scale[:, None]).round().clamp(-127, 127).to(torch.int8).reshape(value.shape)
            out[name + SCALE] = scale
        else:
            out[name] = value.to(torch.float16).contiguous()
    return out, ({"format": INT8_FORMAT} if storage == "int8" else {})


def unpack(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The float32 state dict of written tensors (int8 matrices times their row scales)."""
    state = {}
    for name, value in tensors.items():
        if name.endswith(SCALE):
            continue
        scale = tensors.get(name + SCALE)
        if scale is not None:
            if value.dtype != torch.int8 or scale.shape != value.shape[:1]:
                raise ValueError(f"{name}: an int8 matrix needs one scale per row")
            value = value.float() * scale.float().view(-1, *[1] * (value.dim() - 1))
        elif value.dtype == torch.int8:
            raise ValueError(f"{name} is int8 without its {name}{SCALE}")
        state[name] = value.float() if value.is_floating_point() or value.dtype == torch.int8 else value
    return state


def write(folder: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str],
          max_bytes: int = MAX_FILE_BYTES) -> None:
    """Write packed tensors into `folder`: one file, or shards and their index when larger."""
    folder = Path(folder)
    size = lambda t: t.numel() * t.element_size()  # noqa: E731
    if sum(size(t) for t in tensors.values()) <= max_bytes:
        save_file(tensors, str(folder / WEIGHTS_FILE), metadata=metadata or None)
        return
    shards: list[dict[str, torch.Tensor]] = [{}]
    filled = 0
    for name, tensor in _row_blocks(tensors, max_bytes):   # in order, a new shard when this one would pass the limit
        if shards[-1] and filled + size(tensor) > max_bytes:
            shards.append({})
            filled = 0
        shards[-1][name] = tensor
        filled += size(tensor)
    files = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    for file, shard in zip(files, shards):
        save_file(shard, str(folder / file), metadata=metadata or None)
    index = {"metadata": metadata, "weight_map": {n: f for f, shard in zip(files, shards) for n in shard}}
    (folder / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")


def _row_blocks(tensors: dict[str, torch.Tensor], max_bytes: int):
    """(name, tensor) in order, a tensor over max_bytes as row blocks of at most max_bytes."""
    for name, tensor in tensors.items():
        nbytes = tensor.numel() * tensor.element_size()
        if nbytes <= max_bytes or tensor.dim() == 0 or tensor.shape[0] < 2:
            yield name, tensor
            continue
        rows = max(1, max_bytes // (nbytes // tensor.shape[0]))
        for k, block in enumerate(torch.split(tensor, rows)):
            yield f"{name}{ROWS}{k}", block.contiguous()


def _join_rows(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors with each name's row blocks joined back, in block order."""
    blocks: dict[str, dict[int, torch.Tensor]] = {}
    out = {}
    for key, value in tensors.items():
        name, cut, k = key.rpartition(ROWS)
        if cut and k.isdigit():
            blocks.setdefault(name, {})[int(k)] = value
        else:
            out[key] = value
    for name, parts in blocks.items():
        if sorted(parts) != list(range(len(parts))):
            raise ValueError(f"{name}: its row blocks are not numbered 0..{len(parts) - 1}")
        out[name] = torch.cat([parts[k] for k in range(len(parts))])
    return out


def present(folder: Path) -> bool:
    return (Path(folder) / WEIGHTS_FILE).is_file() or (Path(folder) / INDEX_FILE).is_file()


def read(folder: Path) -> dict[str, torch.Tensor]:
    """The packed tensors of a folder, from its one file or from every shard its index names.
    Raises ValueError (naming the file) for an unreadable or incomplete set."""
    folder = Path(folder)
    if not (folder / INDEX_FILE).is_file():
        return _load(folder / WEIGHTS_FILE)
    try:
        weight_map = json.loads((folder / INDEX_FILE).read_text())["weight_map"]
        if not all(isinstance(v, str) for v in weight_map.values()):
            raise TypeError
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(f"{folder / INDEX_FILE} is not a valid weights index") from None
    tensors = {}
    for file in sorted(set(weight_map.values())):
        if Path(file).name != file:   # shards sit beside their index, never elsewhere
            raise ValueError(f"{folder / INDEX_FILE} names a file outside its folder: {file}")
        tensors.update(_load(folder / file))
    if set(tensors) != set(weight_map):
        raise ValueError(f"{folder / INDEX_FILE}: its shards do not hold the tensors it names")
    return _join_rows(tensors)


def _load(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors rejects truncated or foreign files
        raise ValueError(f"{path} is not a readable safetensors file ({str(exc)[:120]})") from None


__all__ = ["STORAGE", "WEIGHTS_FILE", "INDEX_FILE", "pack", "unpack", "write", "read", "present"]
