"""`correct`: vec2text's corrector as masked diffusion. A second model (a corrector: the
inverter's architecture reading a hypothesis and its embedding too) rewrites a hypothesis
given the target vector, the hypothesis's embedding and their gap; each rewrite is embedded
and scored, and the best few by cosine are rewritten again:

  round 0   the plain greedy decode of the target vector, at the most likely length and, with
            a budget of 8 or more, at the next most likely ones (one call per length);
  round k   each vector's `beam` best texts so far are each given `candidates / beam` proposals,
            in the order of SampleConfig.proposals. A rewrite: written anew by the corrector
            from [MASK]s at the hypothesis's length, or a few positions longer or shorter (so
            words can be inserted and dropped). An edit: the hypothesis with a share of its least confident
            tokens masked again (a little noise, so edits differ from round to round) and
            filled in by the corrector, which still reads the whole hypothesis and its
            embedding. A steer (what `refine` does, absorbed): the same re-masking filled in by
            the base model, conditioned on the target pushed away from where the hypothesis
            landed. An LM rewrite (`lm`, with an LM corrector): a pretrained language model
            writes the text anew from the hypothesis, the vector and the inverter's content
            words (lm/rewriter.py). New texts are embedded.
            Greedy proposals are made once per beam: while the beam stays the same, and after
            a round that brought nothing new, they are sampled at `temperature` instead;
  stop      for each vector, when its `encoder_budget` calls are spent or three rounds in a
            row brought it nothing new; the others go on.
The answer is the text of highest cosine, so more calls never lower the cosine."""
from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np
import torch

from ..codes import MASK, PAD
from ..errors import UnembedError
from ..lm.pairs import content_words
from . import make_sampler
from .guided import Candidate, Population, RoundCallback, least_confident, pad_rows

PROPOSAL_KINDS = ("rewrite", "edit", "steer", "lm")
EDIT_NOISE = 0.5             # scale of the Gumbel noise on log-confidence that picks what an edit masks
STALLED_ROUNDS = 3           # stop after this many rounds without a new text
FIRST_LENGTHS = 4            # round 0 decodes at up to this many of the most likely lengths


def parse_proposals(spec: str) -> tuple[tuple[str, float], ...]:
    """'steer:0.3,rewrite:-1' -> (("steer", 0.3), ("rewrite", -1)): what each proposal of one
    hypothesis is, in turn: a rewrite at a length shift, an edit or a steer that masks this
    share of the hypothesis's tokens again, or an LM rewrite sampled at this temperature
    (greedy in a beam's first round)."""
    problem = proposals_problem(spec)
    if problem:
        raise UnembedError(problem)
    items = [item.strip().split(":") for item in spec.split(",")]
    return tuple((kind, int(amount) if kind == "rewrite" else float(amount)) for kind, amount in items)


def proposals_problem(spec: str) -> str | None:
    """What is wrong with a proposals setting, in one line, or None."""
    for item in spec.split(","):
        kind, _, amount = item.strip().partition(":")
        try:
            value = int(amount) if kind == "rewrite" else float(amount)
        except ValueError:
            value = None
        if kind not in PROPOSAL_KINDS or value is None or (kind in ("edit", "steer") and not 0 < value <= 1) \
                or (kind == "lm" and not 0 < value <= 2):
            return (f"proposals: {item!r} is not rewrite:LENGTH_SHIFT (an integer), edit:SHARE or "
                    f"steer:SHARE (a share above 0, at most 1) or lm:TEMPERATURE (above 0, at most 2), "
                    "comma-separated")
    return None


class Proposal(NamedTuple):
    vector: int                 # which target vector
    hypothesis: Candidate       # the text the corrector reads
    canvas: list[int]           # what it fills in: all [MASK] (a rewrite) or part of the hypothesis
    confidence: list[float]     # per canvas position: the hypothesis's where kept, 0 where masked
    greedy: bool
    source: str = "corrector"   # who writes it: corrector | steer (the base model) | lm (the LM corrector)
    temperature: float = 0.0    # lm: of its sampled rewrites


class Correction:
    name = "correct"

    def __init__(self, inverter, corrector, sampling, encoder, round_callback: RoundCallback | None = None,
                 lm=None):
        """inverter: the base model (round 0 and steers); corrector: an Inverter whose model reads
        hypotheses (None where no proposal needs it); lm: an LMCorrector (None where no proposal
        is `lm`); encoder: `.encode(texts)` into the vectors' space."""
        self.inverter, self.corrector, self.sampling, self.lm = inverter, corrector, sampling, lm
        self.encoder, self.round_callback = encoder, round_callback
        self.generator = torch.Generator().manual_seed(sampling.seed)
        self.variants = parse_proposals(sampling.proposals)
        if lm is None and any(kind == "lm" for kind, _ in self.variants):
            raise UnembedError("the proposals name lm, but no LM corrector is loaded: pass --lm-corrector FOLDER")

    def __call__(self, vectors: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        """vectors (B, D) -> best codes (B, max_len), encoder calls per vector."""
        population = self.search(vectors)
        return population.best_codes(self.inverter.model.config.max_len), population.calls()

    @torch.no_grad()
    def search(self, vectors: torch.Tensor) -> Population:
        """Every text the search embedded for each of vectors (B, D), with its embedding and
        cosine: the answer is the best of them; `unembed corrections --searched` learns from all."""
        B = vectors.shape[0]
        population = Population(self.encoder, vectors.float().cpu().numpy(), self.sampling.encoder_budget,
                                self.inverter.vocab, vectors.shape[1])
        population.add(*self.first_guesses(vectors))
        population.report(self.round_callback, 0)
        self.words = content_words(self.inverter, vectors, self.lm.config.words) if self.lm is not None else None
        stalled, round_ = [0] * B, 1        # per vector: rounds in a row that brought nothing new
        self.rewritten: list[tuple | None] = [None] * B   # per vector: the beam last given greedy proposals
        while True:
            active = [b for b in range(B) if population.remaining(b) > 0 and stalled[b] < STALLED_ROUNDS]
            if not active:
                break
            before = population.calls()
            plan = self.plan(population, active, stalled)
            writers = {"corrector": self.fill, "steer": self.steer, "lm": self.rewrite_lm}
            for greedy in (True, False):
                for source, write in writers.items():
                    for temperature in sorted({p.temperature for p in plan}):
                        rows = [p for p in plan if p.greedy == greedy and p.source == source
                                and p.temperature == temperature]
                        if rows:
                            seed = self.sampling.seed + 7919 * round_
                            population.add([p.vector for p in rows], *write(vectors, rows, greedy, seed))
            after = population.calls()
            for b in active:
                stalled[b] = 0 if after[b] > before[b] else stalled[b] + 1
            population.report(self.round_callback, round_)
            round_ += 1
        return population

    def first_guesses(self, vectors: torch.Tensor) -> tuple[list[int], torch.Tensor, torch.Tensor]:
        """Round 0: greedy decodes at the length head's most likely lengths, one per quarter of
        the budget (at most FIRST_LENGTHS): a wrong length is what a rewrite mends worst.
        -> (vector of each row, codes, confidence of each token)"""
        B, model = vectors.shape[0], self.inverter.model
        k = max(1, min(FIRST_LENGTHS, self.sampling.encoder_budget // 4))
        greedy = replace(self.sampling, strategy="confidence")
        if k == 1 or not model.config.length_head:
            rows, lengths = torch.arange(B), None
        else:
            rows = torch.arange(B).repeat_interleave(k)
            lengths = (model.predict_length(vectors).topk(k, dim=-1).indices + 1).reshape(-1)
        sampler = make_sampler(greedy)
        codes = self.inverter.denoise(vectors[rows], self.inverter.blank(vectors[rows], greedy, lengths),
                                      sampler, greedy.steps)
        return rows.tolist(), codes, sampler.confidence

    def fill(self, vectors: torch.Tensor, rows: list[Proposal], greedy: bool, seed: int):
        """The corrector fills the canvases of `rows`, reading each one's hypothesis and its
        embedding, with its own decoding defaults (its sampling.json) at the steps, temperature
        and seed asked for. -> codes (n, L), confidence (n, L)"""
        sampling = replace(self.corrector.sampling, strategy="confidence" if greedy else "euler",
                           steps=self.sampling.steps, temperature=self.sampling.temperature, seed=seed)
        device = vectors.device
        index = torch.tensor([p.vector for p in rows], device=device)
        canvas = pad_rows([p.canvas for p in rows], device)
        sampler = make_sampler(sampling)
        codes = self.corrector.denoise(
            vectors[index], canvas, sampler, sampling.steps,
            hypothesis=pad_rows([p.hypothesis.codes for p in rows], device),
            hypothesis_vectors=torch.from_numpy(np.stack([p.hypothesis.embedding for p in rows])).to(vectors))
        return codes, self.kept_confidence(rows, canvas, sampler)

    def steer(self, vectors: torch.Tensor, rows: list[Proposal], greedy: bool, seed: int):
        """The base model fills the canvases of `rows` (refine's move), each conditioned on its
        target pushed away from its hypothesis's embedding: what the text still misses weighs
        more. -> codes (n, L), confidence (n, L)"""
        sampling = replace(self.sampling, strategy="confidence" if greedy else "euler", seed=seed)
        device = vectors.device
        target = torch.nn.functional.normalize(vectors[[p.vector for p in rows]].float(), dim=-1)
        landed = torch.from_numpy(np.stack([p.hypothesis.embedding for p in rows])).to(target)
        canvas = pad_rows([p.canvas for p in rows], device)
        sampler = make_sampler(sampling)
        pushed = target + sampling.steer * (target - landed)
        codes = self.inverter.denoise(pushed, canvas, sampler, sampling.steps)
        return codes, self.kept_confidence(rows, canvas, sampler)

    def rewrite_lm(self, vectors: torch.Tensor, rows: list[Proposal], greedy: bool, seed: int):
        """The LM corrector writes each row's text anew from its hypothesis, its target and the
        hypothesis's embedding, and the target's content words. Its texts become the inverter's
        codes (what the population keeps); their confidence is unknown: 0.5 each.
        -> codes (n, L), confidence (n, L)"""
        index = [p.vector for p in rows]
        landed = torch.from_numpy(np.stack([p.hypothesis.embedding for p in rows])).float()
        texts = self.lm.rewrite([p.hypothesis.text for p in rows], [self.words[b] for b in index],
                                vectors[index].float().cpu(), landed, samples=1,
                                temperature=0.0 if greedy else rows[0].temperature, seed=seed)
        codes = torch.from_numpy(self.inverter.vocab.encode([t[0] or "." for t in texts],
                                                            self.inverter.model.config.max_len))
        return codes.to(vectors.device), torch.where(codes == PAD, 0.0, 0.5).to(vectors.device)

    def kept_confidence(self, rows: list[Proposal], canvas: torch.Tensor, sampler) -> torch.Tensor:
        """Per position: the hypothesis's confidence where its token was kept, the sampler's where
        it wrote one. (n, L)"""
        kept = torch.zeros(canvas.shape, device=canvas.device)
        for r, p in enumerate(rows):
            kept[r, :len(p.confidence)] = torch.tensor(p.confidence)
        return torch.where(canvas == MASK, sampler.confidence, kept)

    def plan(self, population: Population, active: list[int], stalled: list[int]) -> list[Proposal]:
        """This round's proposals for each `active` vector, at most as many as its budget
        allows: the beam's members in turn, each taking the next of the proposals setting.
        Greedy once per beam (again they would only repeat themselves), then sampled, as they
        are for a vector whose last round brought nothing new."""
        plan = []
        for b in active:
            n = min(self.sampling.candidates, population.remaining(b))
            beam = population.best(b, self.sampling.beam)
            texts = tuple(c.text for c in beam)
            greedy = stalled[b] == 0 and texts != self.rewritten[b]
            if greedy:
                self.rewritten[b] = texts
            for j in range(n):
                member, variant = beam[j % len(beam)], self.variants[(j // len(beam)) % len(self.variants)]
                plan.append(self.propose(b, member, variant, greedy=greedy))
        return plan

    def propose(self, b: int, member: Candidate, variant: tuple, greedy: bool) -> Proposal:
        kind, amount = variant
        tokens = list(member.codes)
        if kind == "lm":
            return Proposal(b, member, [], [], greedy, source="lm", temperature=float(amount))
        if kind == "rewrite":
            length = min(self.corrector.model.config.max_len, max(1, len(tokens) + amount))
            return Proposal(b, member, [MASK] * length, [0.0] * length, greedy)
        conf = list(member.confidence) or [1.0] * len(tokens)
        again = least_confident(conf, amount, EDIT_NOISE, self.generator)
        return Proposal(b, member, [MASK if i in again else t for i, t in enumerate(tokens)],
                        [0.0 if i in again else c for i, c in enumerate(conf)], greedy,
                        source="steer" if kind == "steer" else "corrector")


__all__ = ["Correction"]
