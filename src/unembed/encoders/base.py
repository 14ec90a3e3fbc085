"""The encoder interface: texts in, float32 vectors out."""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Encoder(ABC):
    """Anything that maps texts to fixed-size vectors. `name` is what a checkpoint records."""

    name: str
    dim: int

    @abstractmethod
    def encode(self, texts: list[str], batch_size: int = 64,
               show_progress: bool = False) -> np.ndarray:
        """(N, dim) float32 array, one row per text."""
