"""The encoder interface: texts in, float32 vectors out."""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..errors import UnembedError


def check_texts(texts) -> list[str]:
    """Texts an encoder can take: strings of valid Unicode (JSON can carry lone surrogates,
    which no tokenizer encodes). Empty strings are allowed: a reconstruction can be empty."""
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise UnembedError(f"text {i + 1} is a {type(text).__name__}, not a string")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise UnembedError(f"text {i + 1} is not valid Unicode (a lone surrogate at character "
                               f"{exc.start}); send UTF-8 text") from None
    return texts


class Encoder(ABC):
    """Anything that maps texts to fixed-size vectors. `name` is what a checkpoint records."""

    name: str
    dim: int

    @abstractmethod
    def encode(self, texts: list[str], batch_size: int = 64,
               show_progress: bool = False) -> np.ndarray:
        """(N, dim) float32 array, one row per text."""
