"""What a search proposes from a hypothesis: the proposal kinds of the `proposals` setting.

A kind is one function that turns a hypothesis (a beam member) into a canvas, registered with
`@kind` under its name, the grammar of its amount and the writer that fills its canvases:

  corrector  the corrector fills the canvas, reading the hypothesis and its embedding;
  base       the base decoder fills it, conditioned on the target pushed away from where the
             hypothesis landed (target + steer * (target - hypothesis)): what it misses weighs more;
  lm         the LM corrector writes the text anew (no canvas) from the hypothesis, the vector
             and the base decoder's content words.

Proposals of one writer are filled in one batch, whatever their kinds. A new kind that one of
these writers can fill is one function here."""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable, NamedTuple

import numpy as np
import torch

from ..errors import UnembedError
from ..sampling import make_sampler
from ..text.codes import MASK, PAD
from .population import Candidate, least_confident, pad_rows

EDIT_NOISE = 0.5    # scale of the Gumbel noise on log-confidence that picks what an edit masks


class ProposalSpec(NamedTuple):
    kind: str
    amount: float       # an integer for rewrite


class Proposal(NamedTuple):
    vector: int                 # which target vector
    hypothesis: Candidate       # the text it starts from
    canvas: list[int]           # what the writer fills in: all [MASK] (a rewrite) or part of the hypothesis
    confidence: list[float]     # per canvas position: the hypothesis's where kept, 0 where masked
    greedy: bool
    writer: str
    temperature: float = 0.0    # lm: of its sampled rewrites
    kind: str = ""              # the proposal kind's name (what a text's provenance says)


@dataclass(frozen=True)
class Kind:
    canvas: Callable            # (search, hypothesis, amount) -> (canvas, confidence)
    writer: str
    amount: Callable[[str], float]   # the amount from its text; ValueError if out of range
    grammar: str


KINDS: dict[str, Kind] = {}


def kind(name: str, writer: str, amount: Callable[[str], float], grammar: str):
    def register(canvas):
        KINDS[name] = Kind(canvas, writer, amount, grammar)
        return canvas
    return register


def _share(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise ValueError(text)
    return value


def _temperature(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 2:
        raise ValueError(text)
    return value


def greedy_only(spec: ProposalSpec) -> bool:
    """lm:0: the LM rewrites each new beam text once, greedily, and never samples: its share of
    the budget then goes to the other kinds (an LM rewrite costs ~20 times a steer here)."""
    return spec.kind == "lm" and spec.amount == 0


def _remasked(search, hypothesis: Candidate, share: float):
    """The hypothesis with the `share` of its least confident tokens masked again, a little noise
    so that repeated picks differ."""
    tokens = list(hypothesis.codes)
    conf = list(hypothesis.confidence) or [1.0] * len(tokens)
    again = least_confident(conf, share, EDIT_NOISE, search.generator)
    return ([MASK if i in again else t for i, t in enumerate(tokens)],
            [0.0 if i in again else c for i, c in enumerate(conf)])


@kind("rewrite", "corrector", int, "rewrite:LENGTH_SHIFT (an integer)")
def rewrite(search, hypothesis: Candidate, shift: int):
    """Written anew from [MASK]s at the hypothesis's length shifted by `shift`, so that words
    can be inserted and dropped."""
    length = min(search.corrector.max_len, max(1, len(hypothesis.codes) + shift))
    return [MASK] * length, [0.0] * length


@kind("edit", "corrector", _share, "edit:SHARE (above 0, at most 1)")
def edit(search, hypothesis: Candidate, share: float):
    """The least confident share masked again and filled in by the corrector."""
    return _remasked(search, hypothesis, share)


@kind("steer", "base", _share, "steer:SHARE (above 0, at most 1)")
def steer(search, hypothesis: Candidate, share: float):
    """The least confident share masked again and filled in by the base decoder, pushed."""
    return _remasked(search, hypothesis, share)


@kind("lm", "lm", _temperature, "lm:TEMPERATURE (0 = greedy only, at most 2)")
def lm(search, hypothesis: Candidate, temperature: float):
    """Written anew by the LM corrector: greedy in a beam's first round, then sampled (lm:0: never)."""
    return [], []


@lru_cache(maxsize=64)
def parse_proposals(spec: str) -> tuple[ProposalSpec, ...]:
    """'steer:0.3,rewrite:-1' -> (ProposalSpec("steer", 0.3), ProposalSpec("rewrite", -1))."""
    out = []
    for item in spec.split(","):
        name, _, text = item.strip().partition(":")
        try:
            out.append(ProposalSpec(name, KINDS[name].amount(text)))
        except (KeyError, ValueError):
            raise UnembedError(f"proposals: {item!r} is not one of " + ", ".join(k.grammar for k in KINDS.values())
                               + ", comma-separated") from None
    return tuple(out)


def needs(specs: tuple[ProposalSpec, ...]) -> set[str]:
    """The writers these proposals use: corrector, base, lm."""
    return {KINDS[s.kind].writer for s in specs}


def propose(search, b: int, member: Candidate, spec: ProposalSpec, greedy: bool) -> Proposal:
    k = KINDS[spec.kind]
    canvas, confidence = k.canvas(search, member, spec.amount)
    return Proposal(b, member, canvas, confidence, greedy, k.writer,
                    float(spec.amount) if k.writer == "lm" else 0.0, spec.kind)


# -- writers: each fills a batch of proposals -> codes (n, L), confidence (n, L) ---------------

def _kept_confidence(rows: list[Proposal], canvas: torch.Tensor, sampler) -> torch.Tensor:
    """Per position: the hypothesis's confidence where its token was kept, the sampler's where
    it wrote one. (n, L)"""
    kept = torch.zeros(canvas.shape, device=canvas.device)
    for r, p in enumerate(rows):
        kept[r, :len(p.confidence)] = torch.tensor(p.confidence)
    return torch.where(canvas == MASK, sampler.confidence, kept)


def _landed(rows: list[Proposal]) -> torch.Tensor:
    return torch.from_numpy(np.stack([p.hypothesis.embedding for p in rows])).float()


def fill_by_corrector(search, vectors: torch.Tensor, rows: list[Proposal], greedy: bool, seed: int):
    """The corrector fills the canvases, reading each hypothesis and its embedding, with its own
    decoding defaults at the search's steps, temperature and seed."""
    decoding = replace(search.corrector.decoding, strategy="confidence" if greedy else "euler",
                       steps=search.decoding.steps, temperature=search.decoding.temperature, seed=seed)
    device = vectors.device
    canvas = pad_rows([p.canvas for p in rows], device)
    sampler = make_sampler(decoding)
    codes = search.corrector.denoise(vectors[[p.vector for p in rows]], canvas, sampler, decoding.steps,
                                     hypothesis=pad_rows([p.hypothesis.codes for p in rows], device),
                                     hypothesis_vectors=_landed(rows).to(vectors))
    return codes, _kept_confidence(rows, canvas, sampler)


def fill_by_base(search, vectors: torch.Tensor, rows: list[Proposal], greedy: bool, seed: int):
    """The base decoder fills the canvases, each conditioned on its target pushed away from its
    hypothesis's embedding."""
    decoding = replace(search.decoding, strategy="confidence" if greedy else "euler", seed=seed)
    target = torch.nn.functional.normalize(vectors[[p.vector for p in rows]].float(), dim=-1)
    canvas = pad_rows([p.canvas for p in rows], vectors.device)
    sampler = make_sampler(decoding)
    pushed = target + search.settings.steer * (target - _landed(rows).to(target))
    codes = search.decoder.denoise(pushed, canvas, sampler, decoding.steps)
    return codes, _kept_confidence(rows, canvas, sampler)


def write_by_lm(search, vectors: torch.Tensor, rows: list[Proposal], greedy: bool, seed: int):
    """The LM corrector writes each row's text anew; its texts become the base decoder's codes
    (what the population keeps), their confidence unknown: 0.5 each."""
    index = [p.vector for p in rows]
    texts = [None] * len(rows)
    if greedy:  # a greedy rewrite is a function of (vector, text): one a beam text had before is reused
        for r, p in enumerate(rows):
            texts[r] = search.lm_written.get((p.vector, p.hypothesis.text))
    for temperature in sorted({p.temperature for p in rows}):
        part = [r for r, p in enumerate(rows) if p.temperature == temperature and texts[r] is None]
        if not part:
            continue
        written = search.lm.rewrite([rows[r].hypothesis.text for r in part], [search.words[index[r]] for r in part],
                                    vectors[[index[r] for r in part]].float().cpu(), _landed([rows[r] for r in part]),
                                    samples=1, temperature=0.0 if greedy else temperature, seed=seed)
        for r, t in zip(part, written):
            texts[r] = t[0] or "."
            if greedy:
                search.lm_written[(rows[r].vector, rows[r].hypothesis.text)] = texts[r]
    codes = torch.from_numpy(search.decoder.vocab.encode(texts, search.decoder.max_len)).to(vectors.device)
    return codes, torch.where(codes == PAD, 0.0, 0.5)


WRITERS = {"corrector": fill_by_corrector, "base": fill_by_base, "lm": write_by_lm}

__all__ = ["KINDS", "WRITERS", "Proposal", "ProposalSpec", "greedy_only", "kind", "needs", "parse_proposals", "propose"]
