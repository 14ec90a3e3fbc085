"""What every store reader gives: its rows' keys, cheaply, then the texts and vectors of chosen
keys. Reading in two passes is what lets `--sample 1000` audit a store of ten million vectors
without holding them: the keys are listed (ids, offsets or row addresses, a few bytes each),
a seeded uniform sample of them is drawn, and only those rows' vectors are fetched."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from ..encoders import check_vectors, find_preset
from ..errors import UnembedError

logger = logging.getLogger(__name__)


class Store:
    """One collection, table or index of a vector store, opened read-only. Subclasses set
    `kind` and `where` (for messages) and implement the four methods below."""
    kind = "store"
    where = ""

    def count(self) -> int:
        """Rows in the collection."""
        raise NotImplementedError

    def keys(self, limit: int | None = None) -> list | np.ndarray:
        """The keys of the first `limit` rows (all when None), in the store's own order."""
        raise NotImplementedError

    def fetch(self, keys) -> tuple[list[str | None], list]:
        """Texts (None where the store keeps none) and vectors of `keys`, in that order."""
        raise NotImplementedError

    def encoder(self) -> str | None:
        """The encoder that wrote the vectors, where the store records it."""
        return None

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class StoredVectors:
    """Rows read from a store: (N, D) vectors, their texts (None where not kept)."""
    vectors: np.ndarray
    texts: list
    source: str                                   # the URI, for messages and reports
    kind: str
    rows_in_store: int
    encoder: str | None = None                    # as the store records it
    sampled: bool = False
    info: dict = field(default_factory=dict)

    @property
    def has_texts(self) -> bool:
        return all(t for t in self.texts)

    def require_texts(self, what: str) -> list[str]:
        if not self.has_texts:
            missing = sum(not t for t in self.texts)
            raise UnembedError(f"{self.source}: {missing} of {len(self.texts)} vectors have no text in the "
                               f"store; {what} needs each vector's text (name its column with --text-column)")
        return list(self.texts)

    def summary(self) -> dict:
        return {"store": self.source, "kind": self.kind, "rows_in_store": self.rows_in_store,
                "rows_read": len(self.vectors), "sampled": self.sampled, "encoder": self.encoder}


def choose(n: int, limit: int = 0, sample: int = 0, seed: int = 0) -> tuple[np.ndarray | None, int]:
    """Which rows to read of n: (positions in draw order, or None for the first `count` rows;
    count). A sample is uniform without replacement and seeded; cutting it to `limit` keeps it
    uniform because the draw order is random."""
    if limit < 0 or sample < 0:
        raise UnembedError("--limit and --sample take 0 (all) or a positive count")
    if not sample:
        return None, min(n, limit) if limit else n
    drawn = np.random.default_rng(seed).permutation(n)[:min(sample, n)]
    return drawn[:limit] if limit else drawn, len(drawn[:limit] if limit else drawn)


def read(store: Store, source: str, limit: int = 0, sample: int = 0, seed: int = 0,
         batch_size: int = 1024, show_progress: bool = True) -> StoredVectors:
    """Read `limit` rows (0 = all) or a seeded uniform `sample` of a store, in batches."""
    n = store.count()
    if n == 0:
        raise UnembedError(f"{source}: the {store.kind} collection is empty")
    drawn, count = choose(n, limit, sample, seed)
    keys = store.keys(count if drawn is None else None)
    if drawn is not None:
        order = np.sort(drawn)                    # fetch in store order, return in draw order
        keys = [keys[i] for i in order] if isinstance(keys, list) else np.asarray(keys)[order]
    texts, rows = [], []
    with tqdm(total=len(keys), desc=f"read {store.kind}", unit="vec", disable=not show_progress) as bar:
        for start in range(0, len(keys), batch_size):
            t, v = store.fetch(keys[start:start + batch_size])
            texts.extend(t)
            rows.extend(v)
            bar.update(len(v))
    widths = {len(np.ravel(v)) for v in rows}
    if len(widths) > 1:
        raise UnembedError(f"{source}: its vectors have mixed widths ({', '.join(map(str, sorted(widths)))}); "
                           "an inverter reads one width: split the collection by encoder")
    vectors = check_vectors(np.asarray(rows, dtype=np.float32), source=source)
    if drawn is not None:  # back from store order to the random draw order
        back = np.argsort(np.argsort(drawn))
        vectors, texts = vectors[back], [texts[i] for i in back]
    return StoredVectors(vectors, texts, source, store.kind, n, store.encoder(), drawn is not None)


def same_encoder(a: str, b: str) -> bool:
    """Two names of one encoder: preset names, aliases and hub ids agree ('all-MiniLM-L6-v2',
    'sentence-transformers/all-MiniLM-L6-v2'); otherwise the last path part, any case."""
    def key(name: str) -> str:
        preset = find_preset(name)
        return preset.name.lower() if preset else name.strip().rstrip("/").split("/")[-1].lower()
    return key(a) == key(b)


def check_fit(stored: StoredVectors, inverter, model_name: str, declared: str = "") -> None:
    """Refuse, in one line, vectors the inverter cannot read: another encoder's (as the store
    records it, or as --encoder declares it) or another width."""
    expected = inverter.model.config.encoder
    if inverter.align is not None:
        source = inverter.align.info.get("source")
        expected = source.get("encoder") if isinstance(source, dict) else None
    written = declared or stored.encoder
    if written and expected and not expected.startswith("black-box:") and not same_encoder(written, expected):
        how = "the store records" if not declared else "--encoder says"
        raise UnembedError(f"{stored.source}: {how} its vectors come from {written}, but --model {model_name} "
                           f"reads {expected} vectors; choose the inverter for {written}, or map them "
                           "with `unembed align` and pass --align")
    if not written:
        logger.warning("%s does not record its encoder; assuming %s (say which with --encoder)",
                       stored.source, expected)
    dim = stored.vectors.shape[1]
    if dim not in inverter.input_dims:  # a Matryoshka model reads its trained prefixes too
        widths = ", ".join(map(str, inverter.input_dims))
        raise UnembedError(f"{stored.source}: its vectors have {dim} dimensions but --model {model_name} "
                           f"reads {widths}; choose the inverter for that encoder, or map them "
                           "with `unembed align` and pass --align")
