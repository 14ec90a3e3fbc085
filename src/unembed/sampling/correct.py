"""`correct`: vec2text's corrector as masked diffusion. A second model (a corrector: the
inverter's architecture reading a hypothesis and its embedding too) rewrites a hypothesis
given the target vector, the hypothesis's embedding and their gap; each rewrite is embedded
and scored, and the best few by cosine are rewritten again:

  round 0   the plain greedy decode of the target vector, at the most likely length and, with
            a budget of 8 or more, at the next most likely ones (one call per length);
  round k   each vector's `beam` best texts so far are rewritten into `candidates` new ones:
            the first per hypothesis greedily at the hypothesis's length, then one position
            longer and shorter, then sampled at `temperature`; new texts are embedded;
  stop      when a vector's `encoder_budget` calls are spent, or rounds bring nothing new.
The answer is the text of highest cosine, so more calls never lower the cosine."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from .guided import Population, RoundCallback, pad_rows

LENGTH_SHIFTS = (0, 1, -1)   # the rewrites of one hypothesis: its length, one more, one less
STALLED_ROUNDS = 3           # stop after this many rounds without a new text
FIRST_LENGTHS = 4            # round 0 decodes at up to this many of the most likely lengths


class Correction:
    name = "correct"

    def __init__(self, inverter, corrector, sampling, encoder, round_callback: RoundCallback | None = None):
        """inverter: the base model (round 0); corrector: an Inverter whose model reads hypotheses;
        encoder: `.encode(texts)` into the vectors' space."""
        self.inverter, self.corrector, self.sampling = inverter, corrector, sampling
        self.encoder, self.round_callback = encoder, round_callback

    @torch.no_grad()
    def __call__(self, vectors: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        """vectors (B, D) -> best codes (B, max_len), encoder calls per vector."""
        B, max_len = vectors.shape[0], self.inverter.model.config.max_len
        population = Population(self.encoder, vectors.float().cpu().numpy(), self.sampling.encoder_budget,
                                self.inverter.vocab, vectors.shape[1])
        greedy = replace(self.sampling, strategy="confidence")
        population.add(*self.first_guesses(vectors, greedy))
        population.report(self.round_callback, 0)
        stalled, round_ = 0, 1
        while stalled < STALLED_ROUNDS and any(population.remaining(b) > 0 for b in range(B)):
            plan = self.plan(population, explore=stalled > 0)
            added = 0
            for is_greedy in (True, False):
                rows = [p for p in plan if p[3] == is_greedy]
                if not rows:
                    continue
                # the corrector's own decoding defaults (its sampling.json: repetition penalty,
                # schedule), at the steps, temperature and seed asked for
                sampling = replace(self.corrector.sampling, strategy="confidence" if is_greedy else "euler",
                                   steps=self.sampling.steps, temperature=self.sampling.temperature,
                                   seed=self.sampling.seed + 7919 * round_ + stalled)
                index = torch.tensor([b for b, _, _, _ in rows], device=vectors.device)
                codes = self.corrector.generate(
                    vectors[index], sampling,
                    lengths=torch.tensor([n for _, _, n, _ in rows], device=vectors.device),
                    hypothesis=pad_rows([c.codes for _, c, _, _ in rows], vectors.device),
                    hypothesis_vectors=torch.from_numpy(np.stack([c.embedding for _, c, _, _ in rows])).to(vectors))
                added += population.add(index.tolist(), codes)
            population.report(self.round_callback, round_)
            stalled = 0 if added else stalled + 1
            round_ += 1
        return population.best_codes(max_len), population.calls()

    def first_guesses(self, vectors: torch.Tensor, greedy) -> tuple[list[int], torch.Tensor]:
        """Round 0: greedy decodes at the length head's most likely lengths, one per quarter of
        the budget (at most FIRST_LENGTHS): a wrong length is what a rewrite mends worst.
        -> (vector of each row, codes)"""
        B, model = vectors.shape[0], self.inverter.model
        k = max(1, min(FIRST_LENGTHS, self.sampling.encoder_budget // 4))
        if k == 1 or not model.config.length_head:
            return list(range(B)), self.inverter.generate(vectors, greedy)
        lengths = model.predict_length(vectors).topk(k, dim=-1).indices + 1            # (B, k)
        rows = torch.arange(B).repeat_interleave(k)
        return rows.tolist(), self.inverter.generate(vectors[rows], greedy, lengths=lengths.reshape(-1))

    def plan(self, population: Population, explore: bool) -> list[tuple]:
        """This round's rewrites: (vector, hypothesis, canvas length, greedy?) for each vector
        with budget left, at most as many as its budget allows. After a round that found
        nothing new (`explore`) every rewrite is sampled."""
        max_len, plan = self.corrector.model.config.max_len, []
        for b in range(len(population.seen)):
            n = min(self.sampling.candidates, population.remaining(b))
            beam = population.best(b, self.sampling.beam)
            for j in range(max(0, n)):
                member, variant = beam[j % len(beam)], j // len(beam)
                shift = LENGTH_SHIFTS[variant % len(LENGTH_SHIFTS)]
                length = min(max_len, max(1, len(member.codes) + shift))
                plan.append((b, member, length, variant < len(LENGTH_SHIFTS) and not explore))
        return plan


__all__ = ["Correction"]
