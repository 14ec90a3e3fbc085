"""Encoder-guided refinement (`refine`), for when the target encoder can be called.

vec2text's idea, re-embed the hypothesis and correct it, at the cost of a few batched
encoder calls instead of thousands:
  1. propose `candidates` texts per vector in one batch: greedy decodes at the most likely
     lengths, and samples at a temperature;
  2. re-embed them and keep the best by cosine to the target;
  3. mask again the best text's least confident positions (a different share and a little
     noise per candidate; some candidates also gain or lose a position), and decode again,
     half the candidates conditioned on the target pushed away from the best text's own
     embedding (target + (target - best)), so that what the text still misses weighs more;
  4. repeat for `rounds` rounds (each in half the steps: less is masked), never losing the
     best text so far.
A text proposed twice for the same vector is embedded once. `encoder_budget` caps the calls
per vector; each result reports how many it made."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..vocabulary import MASK, PAD
from . import make_sampler

SHARES = (0.15, 0.3, 0.5)   # shares of the text masked again, cycled over the candidates
STEER = (0.0, 1.0)          # how far candidates are pushed from the best text's embedding


class EncoderRefiner:
    def __init__(self, inverter, sampling, encoder=None):
        self.inverter = inverter
        self.sampling = sampling
        self.encoder = encoder if encoder is not None else inverter.own_encoder  # the model's space
        self.candidates = max(1, min(sampling.candidates, sampling.encoder_budget))
        self.rounds = max(0, min(sampling.rounds, sampling.encoder_budget // self.candidates - 1))
        self.generator = torch.Generator().manual_seed(sampling.seed)

    def __call__(self, vectors: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        """vectors (B, D) -> best codes (B, max_len), encoder calls per vector."""
        B, N = vectors.shape[0], self.candidates
        many = vectors.repeat_interleave(N, dim=0)                          # (B*N, D)
        self.seen = [dict() for _ in range(B)]       # per vector: text -> (cosine, unit embedding)
        target = torch.nn.functional.normalize(vectors.float(), dim=-1).cpu().numpy()
        codes, confidence = self.propose(many)
        best = self.keep_best(codes, confidence, target, None)
        for _ in range(self.rounds):
            codes, confidence = self.vary(best, N)
            codes, confidence = self.decode(self.steered(target, best, N).to(many), codes,
                                            max(1, self.sampling.steps // 2),
                                            greedy_every=N, confidence=confidence)
            best = self.keep_best(codes, confidence, target, best)
        max_len = self.inverter.model.config.max_len
        out = torch.nn.functional.pad(best["codes"], (0, max_len - best["codes"].shape[1]), value=PAD)
        return out, [len(s) for s in self.seen]

    def propose(self, many: torch.Tensor):
        """Round one: candidate i of each vector takes the i-th most likely length (cycling
        over the top four); the first of each length is decoded greedily, the rest sampled."""
        N = self.candidates
        if self.inverter.model.config.length_head:
            top = self.inverter.model.predict_length(many[::N]).topk(min(4, N), dim=-1).indices + 1  # (B, K)
            lengths = top[:, torch.arange(N) % top.shape[1]].reshape(-1)
        else:
            lengths = self.inverter.lengths_for(many)
        codes = self.inverter.blank(many, self.sampling, lengths)
        return self.decode(many, codes, self.sampling.steps, greedy_every=N, greedy_first=min(4, N))

    def decode(self, many, codes, steps: int, greedy_every: int, greedy_first: int = 1, confidence=None):
        """Fill the masks: rows whose index within their vector's group is below
        `greedy_first` greedily (confidence), the others by sampling (euler). Returns codes
        and the confidence of every token, kept from `confidence` where it was given."""
        greedy = torch.arange(len(codes), device=codes.device) % greedy_every < greedy_first
        confidence = torch.ones(codes.shape, device=codes.device) if confidence is None else confidence.clone()
        masked = codes == MASK
        out = codes.clone()
        for rows, strategy in ((greedy, "confidence"), (~greedy, "euler")):
            if not rows.any():
                continue
            sampling = replace(self.sampling, strategy=strategy, seed=int(torch.randint(
                1 << 30, (1,), generator=self.generator)))
            sampler = make_sampler(sampling)
            filled = self.inverter.denoise(many[rows], codes[rows], sampler, steps)
            out[rows] = filled
            if sampler.confidence is not None:
                confidence[rows] = torch.where(masked[rows], sampler.confidence, confidence[rows])
        return out, confidence

    def keep_best(self, codes, confidence, target: np.ndarray, best: dict | None) -> dict:
        """Embed the new candidates (each new text once per vector); keep per vector the
        text of highest cosine so far."""
        B, N = target.shape[0], self.candidates
        texts = [self.inverter.vocab.decode(row) for row in codes.cpu().numpy()]
        new = sorted({(i // N, t) for i, t in enumerate(texts) if t not in self.seen[i // N]})
        if new:
            vectors = self.encoder.encode([t for _, t in new])
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            for (b, t), v in zip(new, vectors):
                self.seen[b][t] = (float(v @ target[b]), v)
        score = torch.tensor([self.seen[i // N][t][0] for i, t in enumerate(texts)]).view(B, N)
        pick = score.argmax(dim=1)                                         # (B,)
        rows = torch.arange(B) * N + pick
        embedding = torch.from_numpy(np.stack([self.seen[i // N][texts[i]][1] for i in rows.tolist()]))
        found = {"codes": codes[rows], "confidence": confidence[rows], "score": score[torch.arange(B), pick],
                 "embedding": embedding.float()}
        if best is None:
            return found
        better = found["score"] > best["score"]
        L = max(found["codes"].shape[1], best["codes"].shape[1])
        merged = {}
        for key in ("codes", "confidence"):
            fill = PAD if key == "codes" else 1.0
            a = torch.nn.functional.pad(found[key], (0, L - found[key].shape[1]), value=fill)
            b = torch.nn.functional.pad(best[key], (0, L - best[key].shape[1]), value=fill)
            merged[key] = torch.where(better[:, None], a, b)
        for key in ("score", "embedding"):
            merged[key] = torch.where(better.view(-1, *[1] * (found[key].dim() - 1)), found[key], best[key])
        return merged

    def steered(self, target: np.ndarray, best: dict, N: int) -> torch.Tensor:
        """Condition each candidate on the target pushed away from the best text's embedding,
        target + a (target - best), a cycling over STEER: what the text still misses weighs
        more. (B*N, D)"""
        t = torch.from_numpy(target).float()
        a = torch.tensor([STEER[j % len(STEER)] for j in range(N)]).repeat(len(t))[:, None]
        return t.repeat_interleave(N, dim=0) + a * (t - best["embedding"]).repeat_interleave(N, dim=0)

    def vary(self, best: dict, N: int) -> tuple[torch.Tensor, torch.Tensor]:
        """N partly masked copies of each best text, and their tokens' confidence. (B*N, L')"""
        codes = best["codes"].repeat_interleave(N, dim=0)
        confidence = best["confidence"].repeat_interleave(N, dim=0)
        max_len = self.inverter.model.config.max_len
        rows = []
        for i, (row, conf) in enumerate(zip(codes.tolist(), confidence.tolist())):
            n = sum(c != PAD for c in row)
            tokens, conf = row[:n], conf[:n]
            j = i % N
            if j % 4 == 1 and n < max_len:      # one position more, where confidence is lowest
                at = int(np.argmin(conf))
                tokens, conf = tokens[:at] + [MASK] + tokens[at:], conf[:at] + [0.0] + conf[at:]
            elif j % 4 == 2 and n > 1:           # one position less: drop the least confident
                at = int(np.argmin(conf))
                tokens, conf = tokens[:at] + tokens[at + 1:], conf[:at] + conf[at + 1:]
            noise = 0.0 if j == 0 else 0.5
            score = torch.tensor(conf).clamp(min=1e-6).log()
            score = score - noise * torch.empty(len(conf)).exponential_(generator=self.generator).log()
            k = max(1, round(len(tokens) * SHARES[j % len(SHARES)]))
            again = score.argsort()[:k].tolist()
            rows.append(([MASK if p in again else t for p, t in enumerate(tokens)], conf))
        L = max(len(r) for r, _ in rows)
        return (torch.tensor([r + [PAD] * (L - len(r)) for r, _ in rows], device=codes.device),
                torch.tensor([c + [1.0] * (L - len(c)) for _, c in rows], device=codes.device))
