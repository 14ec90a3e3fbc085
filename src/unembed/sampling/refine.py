"""`refine`: encoder-guided search with the base model alone (no corrector).

  1. propose `candidates` texts per vector in one batch: greedy decodes at the most likely
     lengths, and samples at a temperature;
  2. embed them and keep the best by cosine to the target;
  3. mask again the best text's least confident positions (a different share and a little
     noise per candidate; some candidates also gain or lose a position), and decode again,
     half the candidates conditioned on the target pushed away from the best text's own
     embedding (target + (target - best)), so that what the text still misses weighs more;
  4. repeat for `rounds` rounds (each in half the steps: less is masked), never losing the
     best text so far.
It selects among the base model's proposals; `correct` rewrites them with a trained corrector."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..codes import MASK
from . import make_sampler
from .guided import Population, RoundCallback, least_confident, pad_rows

SHARES = (0.15, 0.3, 0.5)   # shares of the text masked again, cycled over the candidates
STEER = (0.0, 1.0)          # how far candidates are pushed from the best text's embedding


class Refinement:
    name = "refine"

    def __init__(self, inverter, sampling, encoder, round_callback: RoundCallback | None = None):
        self.inverter, self.sampling, self.encoder = inverter, sampling, encoder
        self.round_callback = round_callback
        self.candidates = max(1, min(sampling.candidates, sampling.encoder_budget))
        self.rounds = max(0, min(sampling.rounds, sampling.encoder_budget // self.candidates - 1))
        self.generator = torch.Generator().manual_seed(sampling.seed)

    @torch.no_grad()
    def __call__(self, vectors: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        """vectors (B, D) -> best codes (B, max_len), encoder calls per vector."""
        B, N = vectors.shape[0], self.candidates
        population = Population(self.encoder, vectors.float().cpu().numpy(), self.sampling.encoder_budget,
                                self.inverter.vocab, vectors.shape[1])
        many = vectors.repeat_interleave(N, dim=0)                          # (B*N, D)
        rows = [i // N for i in range(B * N)]
        codes, confidence = self.propose(many)
        population.add(rows, codes, confidence)
        population.report(self.round_callback, 0)
        for round_ in range(1, self.rounds + 1):
            best = [population.best(b)[0] for b in range(B)]
            codes, confidence = self.vary(best, N, vectors.device)
            codes, confidence = self.decode(self.steered(population, best, N).to(many), codes,
                                            max(1, self.sampling.steps // 2), greedy_every=N,
                                            confidence=confidence)
            population.add(rows, codes, confidence)
            population.report(self.round_callback, round_)
        return population.best_codes(self.inverter.model.config.max_len), population.calls()

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
            out[rows] = self.inverter.denoise(many[rows], codes[rows], sampler, steps)
            if sampler.confidence is not None:
                confidence[rows] = torch.where(masked[rows], sampler.confidence, confidence[rows])
        return out, confidence

    def steered(self, population: Population, best: list, N: int) -> torch.Tensor:
        """Condition each candidate on the target pushed away from the best text's embedding,
        target + a (target - best), a cycling over STEER: what the text still misses weighs
        more. (B*N, D)"""
        t = torch.from_numpy(population.targets).float()
        e = torch.from_numpy(np.stack([c.embedding for c in best])).float()
        a = torch.tensor([STEER[j % len(STEER)] for j in range(N)]).repeat(len(t))[:, None]
        return t.repeat_interleave(N, dim=0) + a * (t - e).repeat_interleave(N, dim=0)

    def vary(self, best: list, N: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """N partly masked copies of each best text, and their tokens' confidence. (B*N, L')"""
        max_len = self.inverter.model.config.max_len
        rows, confs = [], []
        for candidate in best:
            for j in range(N):
                tokens = list(candidate.codes)
                conf = list(candidate.confidence) or [1.0] * len(tokens)
                n = len(tokens)
                if j % 4 == 1 and n < max_len:      # one position more, where confidence is lowest
                    at = int(np.argmin(conf))
                    tokens, conf = tokens[:at] + [MASK] + tokens[at:], conf[:at] + [0.0] + conf[at:]
                elif j % 4 == 2 and n > 1:           # one position less: drop the least confident
                    at = int(np.argmin(conf))
                    tokens, conf = tokens[:at] + tokens[at + 1:], conf[:at] + conf[at + 1:]
                again = least_confident(conf, SHARES[j % len(SHARES)], 0.0 if j == 0 else 0.5, self.generator)
                rows.append([MASK if p in again else t for p, t in enumerate(tokens)])
                confs.append(conf)
        codes = pad_rows(rows, device)
        L = codes.shape[1]
        return codes, torch.tensor([c + [1.0] * (L - len(c)) for c in confs], device=device)


__all__ = ["Refinement"]
