"""Decoding strategies, one per file, looked up by name."""
from .base import Sampler
from .confidence import ConfidenceSampler

SAMPLERS = {cls.name: cls for cls in (ConfidenceSampler,)}


def get_sampler(name: str, **kwargs) -> Sampler:
    if name not in SAMPLERS:
        from ..errors import UnembedError
        raise UnembedError(f"unknown strategy {name!r}; choose from {', '.join(sorted(SAMPLERS))}")
    return SAMPLERS[name](**kwargs)


__all__ = ["Sampler", "ConfidenceSampler", "SAMPLERS", "get_sampler"]
