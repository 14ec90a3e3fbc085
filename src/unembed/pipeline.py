"""Inverter: a model + its vocabulary + a sampler, running the one decoding loop.

    inverter = Inverter.from_pretrained("en")
    inverter.invert(vectors, steps=8)          # -> list of texts
    inverter.invert_texts(["some sentence"])   # embed, invert, score
"""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from .config import SampleConfig, from_dict, to_dict
from .encoders import check_vectors
from .errors import UnembedError
from .model import ConditionalMDLM
from .sampling import get_sampler
from .vocabulary import MASK, PAD, Vocabulary

logger = logging.getLogger(__name__)
SHIPPED = Path(__file__).parent / "checkpoints"
SAMPLING_FILE = "sampling.json"
# A step callback sees (step index, codes (B, L), logits (B, L, V)) after each step.
StepCallback = Callable[[int, torch.Tensor, torch.Tensor], None]


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UnembedError(f"device {device!r} asked for, but no CUDA GPU is available; use --device cpu")
    return torch.device(device)


def resolve_checkpoint(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.is_dir():
        return path
    if (SHIPPED / name_or_path).is_dir() and "/" not in name_or_path:
        return SHIPPED / name_or_path
    shipped = sorted(p.name for p in SHIPPED.iterdir() if p.is_dir()) if SHIPPED.is_dir() else []
    raise UnembedError(f"model not found: {name_or_path!r} is neither a checkpoint folder nor a "
                       f"shipped model ({', '.join(shipped) or 'none shipped'})")


class Inverter:
    def __init__(self, model: ConditionalMDLM, vocab: Vocabulary, sampling: SampleConfig | None = None,
                 encoder=None, device: str | torch.device = "cpu"):
        self.model = model.eval()
        self.vocab = vocab
        self.sampling = sampling or SampleConfig()
        self.device = torch.device(device)
        self._encoder = encoder

    @classmethod
    def from_pretrained(cls, name_or_path: str = "en", device: str = "auto", encoder=None) -> "Inverter":
        folder = resolve_checkpoint(name_or_path)
        device = resolve_device(device)
        model = ConditionalMDLM.from_pretrained(folder, device)
        vocab = Vocabulary.load(folder)
        sampling = SampleConfig()
        if (folder / SAMPLING_FILE).is_file():
            try:
                sampling = from_dict(SampleConfig, json.loads((folder / SAMPLING_FILE).read_text()))
            except (ValueError, TypeError) as exc:
                raise UnembedError(f"{folder / SAMPLING_FILE} is not valid: {exc}") from None
        return cls(model, vocab, sampling, encoder, device)

    def save_pretrained(self, folder: str | Path, dtype: torch.dtype | None = None) -> None:
        self.model.save_pretrained(folder, dtype)
        self.vocab.save(Path(folder))
        (Path(folder) / SAMPLING_FILE).write_text(json.dumps(to_dict(self.sampling), indent=2) + "\n")

    @property
    def encoder(self):
        """The encoder named in the checkpoint, loaded on first use."""
        if self._encoder is None:
            from .encoders import load_encoder
            name = self.model.config.encoder
            if not name or name.startswith("black-box:"):
                raise UnembedError("this inverter was trained on black-box vectors: give vectors, "
                                   "not texts, or pass an encoder")
            self._encoder = load_encoder(name, device=str(self.device))
        return self._encoder

    @torch.no_grad()
    def generate(self, vectors: torch.Tensor, sampling: SampleConfig,
                 callback: StepCallback | None = None) -> torch.Tensor:
        """Decode one batch from all-[MASK]. vectors (B, D) -> codes (B, max_len), PAD after
        each text. A model with a length head first reads each text's length from its vector
        and decodes exactly that many positions; the others pad to max_len."""
        max_len = self.model.config.max_len
        if not 1 <= sampling.steps <= max_len:
            raise UnembedError(f"steps must be between 1 and {max_len}, got {sampling.steps}")
        sampler = get_sampler(sampling.strategy, repetition_penalty=sampling.repetition_penalty,
                              schedule=sampling.schedule)
        B = vectors.shape[0]
        if self.model.config.length_head:
            lengths = self.model.predict_length(vectors).argmax(dim=-1) + 1      # (B,)
        else:
            lengths = torch.full((B,), max_len, device=self.device)
        L = int(lengths.max())
        sampler.set_timesteps(sampling.steps, lengths)
        position = torch.arange(L, device=self.device)
        codes = torch.full((B, L), MASK, dtype=torch.long, device=self.device)
        codes = codes.masked_fill(position >= lengths[:, None], PAD)
        ragged = lengths if bool((lengths < L).any()) else None  # mask padding out of attention
        for i in range(sampling.steps):
            if not (codes == MASK).any():
                break  # every row is shorter than the number of steps
            logits = self.model(codes, vectors, sampler.mask_ratio(codes), lengths=ragged).logits
            codes = sampler.step(i, logits, codes)
            if callback is not None:
                callback(i, codes, logits)
        return torch.nn.functional.pad(codes, (0, max_len - L), value=PAD)

    def invert(self, vectors, steps: int | None = None, strategy: str | None = None,
               batch_size: int = 64, callback: StepCallback | None = None,
               show_progress: bool = False, **sampling_overrides) -> list[str]:
        """Texts whose embeddings should be `vectors` (N, D) (or one (D,) vector)."""
        vectors = check_vectors(vectors, self.model.config.cond_dim)
        sampling = replace(self.sampling, **{k: v for k, v in
                                             dict(steps=steps, strategy=strategy, **sampling_overrides).items()
                                             if v is not None})
        texts = []
        for start in tqdm(range(0, len(vectors), batch_size), desc="invert", unit="batch",
                          disable=not show_progress):
            batch = torch.from_numpy(vectors[start:start + batch_size]).to(self.device)
            codes = self.generate(batch, sampling, callback).cpu().numpy()
            texts.extend(self.vocab.decode(row) for row in codes)
        return texts

    def invert_texts(self, texts: list[str], steps: int | None = None, batch_size: int = 64,
                     show_progress: bool = False, **kwargs) -> list[dict]:
        """Embed texts with the checkpoint's encoder, invert, and score each round trip."""
        from .eval.metrics import cosine_rows, token_accuracy
        for i, text in enumerate(texts):
            if not text or not text.strip():
                raise UnembedError(f"text {i + 1} is empty; give non-empty text to invert")
        targets = self.encoder.encode(texts, batch_size=batch_size)
        reconstructions = self.invert(targets, steps=steps, batch_size=batch_size,
                                      show_progress=show_progress, **kwargs)
        again = self.encoder.encode(reconstructions, batch_size=batch_size)
        L = self.model.config.max_len
        refs = self.vocab.tokenize(texts)
        hyps = self.vocab.tokenize(reconstructions)
        return [{"text": t, "reconstruction": r, "cosine": float(c),
                 "token_accuracy": token_accuracy(ref[:L], hyp[:L])}
                for t, r, c, ref, hyp in zip(texts, reconstructions, cosine_rows(targets, again), refs, hyps)]
