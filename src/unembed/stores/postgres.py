"""PostgreSQL with pgvector: `postgresql://USER@HOST:PORT/DB#table.column` (or
`#schema.table.column`), the texts from --text-column, else a column named text, document,
content or page_content.

The session is read-only: the server itself refuses any write. Rows are listed by their
physical address (ctid) and fetched by it within one repeatable-read snapshot, so a sample
reads only its own rows' vectors."""
from __future__ import annotations

import numpy as np

from ..errors import UnembedError
from .base import Store

TEXT_NAMES = ("text", "document", "content", "page_content")
VECTOR_TYPES = ("vector", "halfvec", "real[]", "double precision[]")


class PostgresStore(Store):
    kind = "pgvector"

    def __init__(self, dsn: str, target: str, text_column: str = "", **_):
        import psycopg
        from psycopg import sql
        self.where = f"{dsn}#{target}"
        parts = target.split(".")
        if len(parts) not in (2, 3) or not all(parts):
            raise UnembedError(f"{self.where}: name the vectors as #table.column or #schema.table.column")
        *table, column = parts
        try:
            self.conn = psycopg.connect(dsn, autocommit=False)
        except psycopg.Error as exc:
            raise UnembedError(f"{self.where}: cannot connect ({str(exc).strip().splitlines()[0][:160]})") from None
        self.conn.read_only = True  # every transaction of this session is READ ONLY
        self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ  # one snapshot: ctids stay put
        columns = self._columns(table)
        if not columns:
            raise UnembedError(f"{self.where}: no table {'.'.join(table)!r}")
        if column not in columns:
            raise UnembedError(f"{self.where}: no column {column!r} in {'.'.join(table)}; it has {', '.join(columns)}")
        if columns[column] not in VECTOR_TYPES and not columns[column].startswith(("vector(", "halfvec(")):
            raise UnembedError(f"{self.where}: {column} is {columns[column]}, not a pgvector vector column")
        self.vector_sql = sql.SQL("{}::real[]").format(sql.Identifier(column))  # no client-side type needed
        self.text_column = text_column or next((n for n in TEXT_NAMES if n in columns), "")
        if self.text_column and self.text_column not in columns:
            raise UnembedError(f"{self.where}: no column {self.text_column!r}; it has {', '.join(columns)}")
        self.table = sql.Identifier(*table)
        self.sql = sql

    def _columns(self, table: list[str]) -> dict[str, str]:
        name = ".".join(f'"{p}"' for p in table)
        with self.conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", (name,))
            oid = cur.fetchone()[0]
            if oid is None:
                return {}
            cur.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum", (name,))
            return dict(cur.fetchall())

    def count(self) -> int:
        with self.conn.cursor() as cur:
            cur.execute(self.sql.SQL("SELECT count(*) FROM {}").format(self.table))
            return int(cur.fetchone()[0])

    def keys(self, limit=None):
        query = self.sql.SQL("SELECT ctid::text FROM {}").format(self.table)
        if limit is not None:
            query = self.sql.SQL("{} LIMIT {}").format(query, self.sql.Literal(int(limit)))
        with self.conn.cursor(name="unembed_keys") as cur:  # server side: streams, never all in memory twice
            cur.itersize = 10_000
            cur.execute(query)
            return [row[0] for row in cur]

    def fetch(self, keys):
        text = self.sql.Identifier(self.text_column) if self.text_column else self.sql.SQL("NULL")
        query = self.sql.SQL("SELECT ctid::text, {}, {} FROM {} WHERE ctid = ANY(%s::tid[])").format(
            self.vector_sql, text, self.table)
        with self.conn.cursor() as cur:
            cur.execute(query, (list(keys),))
            at = {row[0]: row for row in cur.fetchall()}
        return ([at[k][2] for k in keys], [np.asarray(at[k][1], dtype=np.float32) for k in keys])

    def close(self) -> None:
        self.conn.rollback()
        self.conn.close()
