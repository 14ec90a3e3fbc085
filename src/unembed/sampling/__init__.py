"""Decoding strategies, one per file, looked up by name. The searches (`correct` and its preset
`refine`, search/) run the decoding loop many times and embed what it writes; they are named
here so that one `--strategy` picks either, but they are searches over decodes, not samplers."""
from __future__ import annotations

import dataclasses
import inspect

from ..errors import UnembedError
from .base import Sampler
from .confidence import ConfidenceSampler
from .euler import EulerSampler
from .remask import RemaskSampler
from .sequential import SequentialSampler
from .two_stage import TwoStageSampler

SAMPLERS = {cls.name: cls for cls in (ConfidenceSampler, SequentialSampler, EulerSampler,
                                       RemaskSampler, TwoStageSampler)}
GUIDED = ("correct", "refine")       # searches over decodes (search/config.py PRESETS): they call the encoder
STRATEGIES = (*SAMPLERS, *GUIDED)


def _accepted(cls) -> set[str]:
    names = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            names |= set(inspect.signature(klass.__init__).parameters) - {"self", "kwargs"}
    return names


def get_sampler(name: str, **kwargs) -> Sampler:
    """The sampler called `name`, given those of `kwargs` it takes (others are ignored, so
    one DecodeConfig can configure any strategy)."""
    if name not in SAMPLERS:
        if name in GUIDED:
            raise UnembedError(f"{name} calls the encoder and is no single sampler: decode with "
                               f"invert(vectors, strategy={name!r})")
        raise UnembedError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    cls = SAMPLERS[name]
    accepted = _accepted(cls)
    return cls(**{k: v for k, v in kwargs.items() if k in accepted})


def make_sampler(sampling) -> Sampler:
    """The sampler a DecodeConfig names, configured by its fields."""
    return get_sampler(sampling.strategy, **dataclasses.asdict(sampling))


__all__ = ["make_sampler", "Sampler", "ConfidenceSampler", "SequentialSampler", "EulerSampler", "RemaskSampler",
           "TwoStageSampler", "GUIDED", "SAMPLERS", "STRATEGIES", "get_sampler"]
