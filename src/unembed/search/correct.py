"""`correct`: vec2text's corrector as masked diffusion. A second model (a corrector: the
inverter's architecture reading a hypothesis and its embedding too) rewrites a hypothesis
given the target vector, the hypothesis's embedding and their gap; each rewrite is embedded
and scored, and the best few by cosine are rewritten again:

  round 0   the plain greedy decode of the target vector, at the most likely length and, with
            a budget of 8 or more, at the next most likely ones (one call per length);
  round k   each vector's `beam` best texts so far are each given `candidates / beam` proposals,
            in the order of the proposals setting (search/proposals.py). A rewrite: written anew by the corrector
            from [MASK]s at the hypothesis's length, or a few positions longer or shorter (so
            words can be inserted and dropped). An edit: the hypothesis with a share of its least confident
            tokens masked again (a little noise, so edits differ from round to round) and
            filled in by the corrector, which still reads the whole hypothesis and its
            embedding. A steer (`refine`'s move: refine is this search with steers only, search/config.py): the same re-masking filled in by
            the base model, conditioned on the target pushed away from where the hypothesis
            landed. An LM rewrite (`lm`, with an LM corrector): a pretrained language model
            writes the text anew from the hypothesis, the vector and the inverter's content
            words (lm/rewriter.py); lm:0 only in greedy rounds. New texts are embedded.
            Greedy proposals are made once per beam: while the beam stays the same, and after
            a round that brought nothing new, they are sampled at `temperature` instead;
  stop      for each vector, when its `encoder_budget` calls are spent or three rounds in a
            row brought it nothing new; the others go on.
The answer is the text of highest cosine, so more calls never lower the cosine."""
from __future__ import annotations

from dataclasses import replace

import torch

from ..errors import UnembedError
from ..sampling import make_sampler
from .population import Population, RoundCallback
from .proposals import WRITERS, Proposal, greedy_only, needs, propose

STALLED_ROUNDS = 3           # stop after this many rounds without a new text
FIRST_LENGTHS = 4            # round 0 decodes at up to this many of the most likely lengths


class Correction:
    name = "correct"

    def __init__(self, decoder, decoding, settings, encoder, corrector=None, lm=None,
                 round_callback: RoundCallback | None = None):
        """decoder: the base decoder (search/decoder.py), for round 0 and steers; decoding: its
        DecodeConfig; settings: a SearchConfig; encoder: `.encode(texts)` into the vectors'
        space; corrector: a second decoder that reads hypotheses (None where no proposal needs
        it); lm: an LMCorrector (None where no proposal is `lm`)."""
        self.decoder, self.decoding, self.settings = decoder, decoding, settings
        self.corrector, self.lm, self.encoder, self.round_callback = corrector, lm, encoder, round_callback
        self.generator = torch.Generator().manual_seed(decoding.seed)
        self.variants = settings.proposal_list()
        self.sampled_variants = tuple(v for v in self.variants if not greedy_only(v))
        missing = {"corrector": corrector, "lm": lm}
        for writer in needs(self.variants):
            if writer in missing and missing[writer] is None:
                raise UnembedError(f"the proposals need a {writer.replace('lm', 'LM corrector')}, but none is loaded: "
                                   + ("pass --lm-corrector FOLDER" if writer == "lm" else "pass --corrector FOLDER"))
        self.words = None
        self.lm_written: dict[tuple[int, str], str] = {}   # (vector, text) -> its greedy LM rewrite

    def __call__(self, vectors: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        """vectors (B, D) -> best codes (B, max_len), encoder calls per vector."""
        population = self.search(vectors)
        return population.best_codes(self.decoder.max_len), population.calls()

    @torch.no_grad()
    def search(self, vectors: torch.Tensor) -> Population:
        """Every text the search embedded for each of vectors (B, D), with its embedding and
        cosine: the answer is the best of them; `unembed corrections --searched` learns from all."""
        B = vectors.shape[0]
        population = Population(self.encoder, vectors.float().cpu().numpy(), self.settings.encoder_budget,
                                self.decoder.vocab, vectors.shape[1])
        population.add(*self.first_guesses(vectors))
        population.report(self.round_callback, 0)
        if self.lm is not None:
            self.words = self.lm.content_words(self.decoder, vectors)
            self.lm_written = {}
        stalled, round_ = [0] * B, 1        # per vector: rounds in a row that brought nothing new
        self.rewritten: list[tuple | None] = [None] * B   # per vector: the beam last given greedy proposals
        while True:
            active = [b for b in range(B) if population.remaining(b) > 0 and stalled[b] < STALLED_ROUNDS]
            if not active:
                break
            before = population.calls()
            plan = self.plan(population, active, stalled)
            for greedy in (True, False):
                for writer, write in WRITERS.items():
                    rows = [p for p in plan if p.greedy == greedy and p.writer == writer]
                    if rows:
                        seed = self.decoding.seed + 7919 * round_
                        population.add([p.vector for p in rows], *write(self, vectors, rows, greedy, seed),
                                       kinds=[p.kind for p in rows])
            after = population.calls()
            for b in active:
                stalled[b] = 0 if after[b] > before[b] else stalled[b] + 1
            population.report(self.round_callback, round_)
            round_ += 1
        return population

    def first_guesses(self, vectors: torch.Tensor) -> tuple[list[int], torch.Tensor, torch.Tensor]:
        """Round 0: greedy decodes at the most likely lengths, one per quarter of the budget (at
        most FIRST_LENGTHS): a wrong length is what a rewrite mends worst.
        -> (vector of each row, codes, confidence of each token)"""
        B = vectors.shape[0]
        k = max(1, min(FIRST_LENGTHS, self.settings.encoder_budget // 4))
        greedy = replace(self.decoding, strategy="confidence")
        guesses = self.decoder.length_guesses(vectors, k)                 # (B, k) or (B, 1)
        rows = torch.arange(B).repeat_interleave(guesses.shape[1])
        lengths = guesses.reshape(-1)
        sampler = make_sampler(greedy)
        codes = self.decoder.denoise(vectors[rows], self.decoder.blank(vectors[rows], lengths), sampler, greedy.steps)
        return rows.tolist(), codes, sampler.confidence

    def plan(self, population: Population, active: list[int], stalled: list[int]) -> list[Proposal]:
        """This round's proposals for each `active` vector, at most as many as its budget
        allows: the beam's members in turn, each taking the next of the proposals setting.
        Greedy once per beam (again they would only repeat themselves), then sampled, as they
        are for a vector whose last round brought nothing new."""
        plan = []
        for b in active:
            n = min(self.settings.candidates, population.remaining(b))
            beam = population.best(b, self.settings.beam)
            texts = tuple(c.text for c in beam)
            greedy = stalled[b] == 0 and texts != self.rewritten[b]
            if greedy:
                self.rewritten[b] = texts
            variants = self.variants if greedy else self.sampled_variants
            for j in range(n if variants else 0):
                member, variant = beam[j % len(beam)], variants[(j // len(beam)) % len(variants)]
                plan.append(propose(self, b, member, variant, greedy))
        return plan


__all__ = ["Correction"]
