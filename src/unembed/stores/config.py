"""--store: reading vectors (and texts) from a vector store."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import check_types
from ..errors import UnembedError


@dataclass
class StoreConfig:
    """--store: reading vectors (and their texts) from a vector store (`unembed/stores/`)."""
    store: str = ""              # URI of the store to read, read-only (see the URI forms in --help)
    sample: int = 0              # read a uniform random sample of N vectors instead of all (0 = no sample)
    sample_seed: int = 0         # the sample's seed
    encoder: str = ""            # the encoder that wrote the vectors, where the store does not record it
    vector_column: str = ""      # LanceDB column / Qdrant vector name of the vectors; empty: the only one
    text_column: str = ""        # LanceDB / PostgreSQL column or Qdrant payload key of the texts; empty: text, document, content or page_content
    texts_file: str = ""         # FAISS: the texts, one per line in index order; empty: INDEX's .txt or .jsonl beside it
    read_batch: int = 1024       # vectors fetched per request

    def validate(self) -> "StoreConfig":
        check_types(self)
        if self.sample < 0 or self.read_batch < 1:
            raise UnembedError("--sample takes 0 (all) or a count, --read-batch 1 or more")
        return self
