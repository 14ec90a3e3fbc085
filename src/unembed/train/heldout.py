"""The evaluation that training runs every `eval_every` steps: held-out decodes scored by
eval's own scorer, and the objective on fixed maskings of the same rows."""
from __future__ import annotations

import numpy as np
import torch

from .config import TrainConfig
from ..diffusion import heldout_loss
from ..encoders import load_encoder_from
from ..model import ConditionalMDLM
from ..inverter import Inverter
from ..text.vocabulary import Vocabulary
from ..eval.roundtrip import cosines_back, score_rows


class HeldOutEvaluator:
    """Decode held-out vectors from all-[MASK] and score them, during training (rank 0). A
    corrector rewrites the base model's greedy decodes of them, whose own score is reported
    beside. `held`: the held-out rows (train/examples.py); `texts`: their texts."""

    def __init__(self, cfg: TrainConfig, vocab: Vocabulary, meta: dict, device, held, texts: list[str]):
        n = min(cfg.eval_texts, len(held))
        self.codes = held.codes[:n].to(device)
        self.vectors = held.vectors[:n].numpy()
        self.hypotheses = held.hypotheses[:n] if held.corrects else None
        self.hypothesis_vectors = held.hypothesis_vectors[:n] if held.corrects else None
        self.texts = texts[:n]
        self.cfg, self.vocab, self.meta, self.device = cfg, vocab, meta, device
        self.encoder = None

    def decode(self, model: ConditionalMDLM) -> list[str]:
        inverter = Inverter(model, self.vocab, device=self.device)
        if self.hypotheses is None:
            return inverter.invert(self.vectors, steps=self.cfg.eval_steps)
        decoding = inverter.settings_with(steps=self.cfg.eval_steps).decoding
        texts = []
        for start in range(0, len(self.vectors), 64):
            part = slice(start, start + 64)
            codes = inverter.generate(torch.from_numpy(self.vectors[part]).to(self.device), decoding,
                                      hypothesis=self.hypotheses[part].to(self.device),
                                      hypothesis_vectors=self.hypothesis_vectors[part].to(self.device))
            texts += [self.vocab.decode(row) for row in codes.cpu().numpy()]
        return texts

    def scores(self, texts: list[str]) -> dict:
        """Mean token accuracy and exact match against the held-out texts (eval's scorer)."""
        rows = score_rows(self.vocab, self.codes.shape[1], self.texts, texts)
        return {key: float(np.mean([row[key] for row in rows])) for key in ("token_accuracy", "exact_match")}

    @torch.no_grad()
    def __call__(self, model: ConditionalMDLM, schedule) -> dict:
        if not self.texts:
            return {}
        hyps = self.decode(model)
        out = {f"eval_{key}": value for key, value in self.scores(hyps).items()}
        out["eval_example"] = hyps[0]
        if self.hypotheses is not None:
            base = [self.vocab.decode(r) for r in self.hypotheses.numpy()]
            out["eval_base_token_accuracy"] = self.scores(base)["token_accuracy"]
        out.update(self.masked_loss(model, schedule))
        if self.cfg.eval_cosine and not str(self.meta.get("encoder", "")).startswith("black-box:"):
            if self.encoder is None:
                self.encoder = load_encoder_from(self.meta)
            out["eval_cosine"] = float(cosines_back(self.encoder, self.vectors, hyps).mean())
        return out

    def masked_loss(self, model: ConditionalMDLM, schedule) -> dict:
        """The objective on the held-out rows, with the same masks at every evaluation."""
        extra = {} if self.hypotheses is None else {"hypothesis": self.hypotheses.to(self.device),
                                                    "hypothesis_vectors": self.hypothesis_vectors.to(self.device)}
        parts = heldout_loss(model, self.codes, torch.from_numpy(self.vectors).to(self.device), schedule, **extra)
        return {f"eval_{key}": value for key, value in parts.items()}


__all__ = ["HeldOutEvaluator"]
