"""Encoders: `load_encoder(name)` for anything sentence-transformers loads."""
from .base import Encoder
from .sentence_transformers import SentenceTransformerEncoder
from .vectors import check_vectors, read_pairs, read_vectors

DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"


def load_encoder(name: str = DEFAULT_ENCODER, device: str = "cpu", **kwargs) -> Encoder:
    return SentenceTransformerEncoder(name, device=device, **kwargs)


__all__ = ["Encoder", "SentenceTransformerEncoder", "load_encoder", "check_vectors",
           "read_pairs", "read_vectors", "DEFAULT_ENCODER"]
