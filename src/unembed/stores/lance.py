"""LanceDB, a database folder: `lancedb:PATH#table`.

The vector and text columns are those the table's embedding function records (LanceDB's
`embedding_functions` schema metadata), else --vector-column / --text-column, else the one
fixed-size list column and a column named text, document, content or page_content. Reading
(`take_offsets`) never writes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from ..errors import UnembedError
from .base import Store

TEXT_NAMES = ("text", "document", "content", "page_content")


class LanceStore(Store):
    kind = "lancedb"

    def __init__(self, path: str, table: str, vector_column: str = "", text_column: str = "", **_):
        import lancedb
        self.where = f"lancedb:{path}#{table}"
        if not Path(path).is_dir():
            raise UnembedError(f"{self.where}: no LanceDB folder at {path}")
        db = lancedb.connect(path, read_consistency_interval=None)
        names = list(db.list_tables().tables) if hasattr(db, "list_tables") else list(db.table_names())
        if table not in names:
            raise UnembedError(f"{self.where}: no table {table!r}; it has {', '.join(map(repr, names)) or 'none'}")
        self.table = db.open_table(table)
        self.function = next(iter(self._functions().values()), None)
        schema = self.table.schema
        vectors = [f.name for f in schema if pa.types.is_fixed_size_list(f.type) or pa.types.is_list(f.type)]
        self.vector_column = vector_column or (self.function or {}).get("vector_column") or \
            (vectors[0] if len(vectors) == 1 else "")
        if not self.vector_column:
            raise UnembedError(f"{self.where}: {'no vector column' if not vectors else 'several vector columns (' + ', '.join(vectors) + ')'}"
                               "; name it with --vector-column")
        if self.vector_column not in schema.names:
            raise UnembedError(f"{self.where}: no column {self.vector_column!r}; it has {', '.join(schema.names)}")
        self.text_column = text_column or (self.function or {}).get("source_column") or \
            next((n for n in TEXT_NAMES if n in schema.names), "")
        if self.text_column and self.text_column not in schema.names:
            raise UnembedError(f"{self.where}: no column {self.text_column!r}; it has {', '.join(schema.names)}")

    def _functions(self) -> dict:
        try:
            return {col: {"vector_column": col, "source_column": cfg.source_column,
                          "model": getattr(cfg.function, "name", None) or getattr(cfg.function, "model_name", None)}
                    for col, cfg in self.table.embedding_functions.items()}
        except Exception:  # a registry entry this LanceDB does not know: the columns still read
            return {}

    def count(self) -> int:
        return self.table.count_rows()

    def keys(self, limit=None):
        return np.arange(self.count() if limit is None else min(limit, self.count()))

    def fetch(self, keys):
        columns = [self.vector_column] + ([self.text_column] if self.text_column else [])
        rows = self.table.take_offsets([int(k) for k in keys]).select(columns).to_arrow().to_pydict()
        texts = rows[self.text_column] if self.text_column else [None] * len(keys)
        return texts, [np.asarray(v if v is not None else [], dtype=np.float32) for v in rows[self.vector_column]]

    def encoder(self):
        return (self.function or {}).get("model")
