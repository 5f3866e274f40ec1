"""`DuckDBEmbeddingStore`: the embedding table in a DuckDB file (the embedded default)."""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from pydantic import Field

from embed_assets.names import table_name
from embed_assets.store.base import StoreStats, TableIdentity, check_owner

_TABLE_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    id VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    embedding FLOAT[] NOT NULL,
    model VARCHAR NOT NULL,
    token_count INTEGER,
    embedded_at TIMESTAMPTZ NOT NULL
)
"""
_FAILURES_DDL = """
CREATE TABLE IF NOT EXISTS {table}__failures (
    id VARCHAR, content_hash VARCHAR, reason VARCHAR, recorded_at TIMESTAMPTZ
)
"""

# which pipeline owns each table of the database file, and what its vectors are
_OWNERS_TABLE = "embed_assets_tables"
_OWNERS_DDL = f"""
CREATE TABLE IF NOT EXISTS {_OWNERS_TABLE} (
    table_name VARCHAR PRIMARY KEY,
    pipeline VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    dimension INTEGER NOT NULL,
    task_type VARCHAR,
    claimed_at TIMESTAMPTZ NOT NULL
)
"""

# batch jobs landed (or of no use), so no later refresh adopts their output again
_CONSUMED_TABLE = "embed_assets_consumed_jobs"
_CONSUMED_DDL = f"""
CREATE TABLE IF NOT EXISTS {_CONSUMED_TABLE} (
    table_name VARCHAR NOT NULL,
    job_name VARCHAR NOT NULL,
    consumed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (table_name, job_name)
)
"""


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> int:
    """Runs a query that returns one number; fetches every row so the connection is free again."""
    rows = con.execute(sql, params or []).fetchall()
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


class DuckDBEmbeddingStore(dg.ConfigurableResource):
    """Keeps each pipeline's embeddings in a table of a DuckDB database file.

    The table (named after the pipeline) has columns `id`, `content_hash`, `embedding`
    (`FLOAT[]`), `model`, `token_count` and `embedded_at`. Changes are applied as deletes and
    inserts of the changed ids only, so a 1 % change costs about 1 % of a rewrite. Failed rows of
    the latest refresh are kept in `<table>__failures`.

    Example:
        ```python
        resources = {"embedding_store": DuckDBEmbeddingStore(path=".embed-assets/embeddings.duckdb")}
        ```
    """

    path: str = Field(
        default=".embed-assets/embeddings.duckdb",
        description="The DuckDB database file; created with its folder when missing.",
    )
    memory_limit: str = Field(
        default="512MB",
        description="DuckDB's memory limit per connection (it spills to disk beyond it), so "
        "landing a large submission costs memory in proportion to one prediction file.",
    )

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Opens a connection for the duration of a `with` block."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        if read_only and not Path(self.path).exists():
            read_only = False
        connection = duckdb.connect(
            self.path, read_only=read_only, config={"memory_limit": self.memory_limit}
        )
        try:
            yield connection
        finally:
            connection.close()

    def table_ref(self, pipeline: str) -> str:
        """Returns `<file>:<table>`."""
        return f"{Path(self.path).resolve()}:{table_name(pipeline)}"

    def _ensure(self, connection: duckdb.DuckDBPyConnection, table: str) -> None:
        connection.execute(_TABLE_DDL.format(table=table))
        connection.execute(_FAILURES_DDL.format(table=table))

    def _exists(self, connection: duckdb.DuckDBPyConnection, table: str) -> bool:
        return bool(
            _scalar(
                connection,
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                [table],
            )
        )

    def owner(self, pipeline: str) -> TableIdentity | None:
        """Returns who owns the pipeline's table (None before the first claim)."""
        with self.connect() as con:
            con.execute(_OWNERS_DDL)
            rows = con.execute(
                f"SELECT pipeline, model, dimension, task_type FROM {_OWNERS_TABLE} "
                "WHERE table_name = ?",
                [table_name(pipeline)],
            ).fetchall()
        return TableIdentity(*rows[0]) if rows else None

    def claim(self, identity: TableIdentity) -> None:
        """Records the owner of the pipeline's table; refuses a second pipeline mapping to it."""
        table = table_name(identity.pipeline)
        with self.connect() as con:
            con.execute(_OWNERS_DDL)
            con.execute("BEGIN")
            rows = con.execute(
                f"SELECT pipeline, model, dimension, task_type FROM {_OWNERS_TABLE} "
                "WHERE table_name = ?",
                [table],
            ).fetchall()
            try:
                check_owner(TableIdentity(*rows[0]) if rows else None, identity, table=table)
            except ValueError:
                con.execute("ROLLBACK")
                raise
            con.execute(
                f"INSERT OR REPLACE INTO {_OWNERS_TABLE} VALUES (?, ?, ?, ?, ?, now())",
                [table, identity.pipeline, identity.model, identity.dimension, identity.task_type],
            )
            con.execute("COMMIT")

    def current_hashes(self, pipeline: str) -> pd.DataFrame:
        """Returns `id, content_hash` of every stored row."""
        table = table_name(pipeline)
        with self.connect() as con:
            if not self._exists(con, table):
                return pd.DataFrame(
                    {"id": pd.Series(dtype=object), "content_hash": pd.Series(dtype=object)}
                )
            # Arrow-backed columns: a million ids and hashes stay compact and convert for free
            return (
                con.sql(f"SELECT id, content_hash FROM {table}")
                .to_arrow_table()
                .to_pandas(types_mapper=pd.ArrowDtype)
            )

    def consumed_jobs(self, pipeline: str) -> set[str]:
        """Returns the names of the jobs whose output was landed or given up on."""
        with self.connect() as con:
            con.execute(_CONSUMED_DDL)
            rows = con.execute(
                f"SELECT job_name FROM {_CONSUMED_TABLE} WHERE table_name = ?",
                [table_name(pipeline)],
            ).fetchall()
        return {str(row[0]) for row in rows}

    def record_consumed_jobs(self, pipeline: str, names: Sequence[str]) -> None:
        """Records jobs as landed or of no use; recording one twice is harmless."""
        if not names:
            return
        with self.connect() as con:
            con.execute(_CONSUMED_DDL)
            con.executemany(
                f"INSERT OR IGNORE INTO {_CONSUMED_TABLE} VALUES (?, ?, now())",
                [[table_name(pipeline), name] for name in names],
            )

    def upsert(self, pipeline: str, rows: pa.Table) -> int:
        """Replaces the rows of the ids in `rows` and inserts the new ones, in one transaction."""
        if rows.num_rows == 0:
            return 0
        with self.writer(pipeline) as write:
            return write(rows)

    @contextmanager
    def writer(self, pipeline: str) -> Iterator[Callable[[pa.Table], int]]:
        """Keeps one connection open for many upserts (each still its own transaction).

        Reopening the database for every prediction file costs a checkpoint each time; landing
        a submission of ten files is about a third faster through one writer.
        """
        table = table_name(pipeline)
        with self.connect() as con:
            self._ensure(con, table)

            def write(rows: pa.Table) -> int:
                if rows.num_rows == 0:
                    return 0
                con.register("incoming", rows)
                con.execute("BEGIN")
                con.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM incoming)")
                con.execute(
                    f"INSERT INTO {table} SELECT id, content_hash, embedding, model, "
                    "token_count, embedded_at FROM incoming"
                )
                con.execute("COMMIT")
                con.unregister("incoming")
                return rows.num_rows

            yield write

    def copy_by_hash(self, pipeline: str, wanted: pd.DataFrame, model: str) -> int:
        """Gives `wanted` ids the vector already stored for their content hash under another id."""
        if wanted.empty:
            return 0
        table = table_name(pipeline)
        with self.connect() as con:
            self._ensure(con, table)
            con.register("wanted", wanted[["id", "content_hash"]])
            con.execute("BEGIN")
            con.execute(
                "CREATE TEMP TABLE copied AS SELECT w.id, s.content_hash, s.embedding, s.model, "
                "s.token_count, now() AS embedded_at FROM wanted w JOIN (SELECT DISTINCT ON "
                f"(content_hash) content_hash, embedding, model, token_count FROM {table}) s "
                "USING (content_hash)"
            )
            con.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM copied)")
            con.execute(f"INSERT INTO {table} SELECT * FROM copied")
            found = _scalar(con, "SELECT count(*) FROM copied")
            con.execute("DROP TABLE copied")
            con.execute("COMMIT")
        return found

    def delete_except(self, pipeline: str, keep: pd.DataFrame) -> int:
        """Deletes rows whose (id, content_hash) pair is not in `keep`."""
        table = table_name(pipeline)
        with self.connect() as con:
            if not self._exists(con, table):
                return 0
            con.register("keep", keep[["id", "content_hash"]])
            return _scalar(
                con,
                f"DELETE FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM keep k "
                "WHERE k.id = t.id AND k.content_hash = t.content_hash)",
            )

    def replace_failures(self, pipeline: str, failures: pd.DataFrame) -> None:
        """Replaces the failure list with `failures` (`id, content_hash, reason`)."""
        table = table_name(pipeline)
        with self.connect() as con:
            self._ensure(con, table)
            con.register("failed_rows", failures[["id", "content_hash", "reason"]])
            con.execute("BEGIN")
            con.execute(f"DELETE FROM {table}__failures")
            con.execute(
                f"INSERT INTO {table}__failures SELECT id, content_hash, reason, now() FROM failed_rows"
            )
            con.execute("COMMIT")

    def failures(self, pipeline: str) -> pd.DataFrame:
        """Returns the rows that failed in the latest refresh."""
        table = table_name(pipeline)
        with self.connect() as con:
            self._ensure(con, table)
            return con.execute(f"SELECT * FROM {table}__failures ORDER BY id").fetch_df()

    def model_of(self, pipeline: str) -> str | None:
        """Returns the model the table's vectors were made with (None while it is empty)."""
        table = table_name(pipeline)
        with self.connect() as con:
            if not self._exists(con, table):
                return None
            rows = con.execute(f"SELECT model FROM {table} LIMIT 1").fetchall()
        return str(rows[0][0]) if rows else None

    def read(self, pipeline: str) -> pd.DataFrame:
        """Returns the whole table, ordered by id."""
        table = table_name(pipeline)
        with self.connect() as con:
            self._ensure(con, table)
            return con.execute(f"SELECT * FROM {table} ORDER BY id").fetch_df()

    def stats(self, pipeline: str, *, dimension: int) -> StoreStats:
        """Counts rows, rows whose vector is not `dimension` long, and non-finite vectors."""
        table = table_name(pipeline)
        with self.connect() as con:
            self._ensure(con, table)
            row = con.execute(
                f"SELECT count(*), count(*) FILTER (WHERE len(embedding) != ?), "
                # NaN and infinity propagate through a sum, so one sum per row finds them
                "count(*) FILTER (WHERE NOT coalesce(isfinite(list_sum(embedding)), true)), "
                "coalesce(sum(token_count), 0) FROM "
                f"{table}",
                [dimension],
            ).fetchall()[0]
        return StoreStats(
            rows=int(row[0]),
            wrong_dimension=int(row[1]),
            non_finite=int(row[2]),
            tokens=int(row[3]),
        )

    def search(self, pipeline: str, vector: npt.NDArray[np.float32], *, k: int) -> pd.DataFrame:
        """Returns the `k` rows closest to `vector` (cosine similarity), best first."""
        table = table_name(pipeline)
        dimension = int(vector.shape[0])
        with self.connect() as con:
            self._ensure(con, table)
            # a zero vector (stored or asked for) has no similarity: it is left out, never NaN
            return con.execute(
                "SELECT id, similarity FROM (SELECT id, array_cosine_similarity("
                f"embedding::FLOAT[{dimension}], ?::FLOAT[{dimension}]) AS similarity "
                f"FROM {table} WHERE len(embedding) = {dimension}) "
                "WHERE NOT isnan(similarity) ORDER BY similarity DESC LIMIT ?",
                [vector.astype(float).tolist(), k],
            ).fetch_df()
