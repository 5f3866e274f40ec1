"""`DuckDBEmbeddingStore`: the embedding table in a DuckDB file (the embedded default)."""

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import dagster as dg
import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from pydantic import Field

from embed_assets.errors import StoreBusy
from embed_assets.store.base import (
    TRUNCATED_EXAMPLES,
    Generations,
    StoreStats,
    TableIdentity,
    check_owner,
    keys_and_positions,
    no_stored_rows,
    same_vectors,
    table_name,
    write_keys,
)
from embed_assets.store.duckdb_tables import (
    ADDED_COLUMNS,
    CONSUMED_TABLE,
    FAILURES_DDL,
    OWNERS_TABLE,
    TABLE_DDL,
    TABLE_MIGRATION,
    Tables,
    create_catalog,
    delete_pairs_not_in,
    export_keys,
    live_tables,
    next_tables,
    read_generations,
)
from embed_assets.store.duckdb_writer import ROW_COLUMNS, DuckDBWriter


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
        resources = {"docs_embedding_store": DuckDBEmbeddingStore(path=".embed-assets/embeddings.duckdb")}
        ```
    """

    kind: ClassVar[str] = "duckdb"  # the Dagster kind of the assets it serves

    path: str = Field(
        default=".embed-assets/embeddings.duckdb",
        description="The DuckDB database file; created with its folder when missing.",
    )
    memory_limit: str = Field(
        default="512MB",
        description="DuckDB's memory limit per connection (it spills to disk beyond it), so "
        "landing a large submission costs memory in proportion to one prediction file.",
    )
    busy_timeout_seconds: float = Field(
        default=60.0,
        description="How long to wait for another process using the database file (DuckDB "
        "lets one process write at a time; each operation holds the file briefly).",
    )

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Opens a connection for the duration of a `with` block.

        Raises:
            StoreBusy: another process kept the file for `busy_timeout_seconds`.
        """
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        if read_only and not Path(self.path).exists():
            read_only = False
        deadline = time.monotonic() + self.busy_timeout_seconds
        while True:
            try:
                connection = duckdb.connect(
                    self.path, read_only=read_only, config={"memory_limit": self.memory_limit}
                )
                break
            except duckdb.IOException as error:
                if "lock" not in str(error).lower():
                    raise
                if time.monotonic() >= deadline:
                    holder = re.search(r"\(PID (\d+)\)", str(error))
                    who = f"process {holder.group(1)}" if holder else "another process"
                    raise StoreBusy(
                        f"{self.path} is in use by {who} (waited "
                        f"{self.busy_timeout_seconds:.0f} s); try again when it has finished"
                    ) from error
                time.sleep(0.05)
        try:
            yield connection
        finally:
            connection.close()

    def table_ref(self, pipeline: str) -> str:
        """Returns `<file>:<table>`."""
        return f"{Path(self.path).resolve()}:{table_name(pipeline)}"

    def _ensure(self, con: duckdb.DuckDBPyConnection, tables: Tables) -> None:
        con.execute(TABLE_DDL.format(table=tables.rows))
        for column, kind in ADDED_COLUMNS.items():
            con.execute(TABLE_MIGRATION.format(table=tables.rows, column=column, kind=kind))
        con.execute(FAILURES_DDL.format(table=tables.failures))

    def _exists(self, con: duckdb.DuckDBPyConnection, tables: Tables) -> bool:
        return bool(
            _scalar(
                con,
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                [tables.raw],
            )
        )

    def _written(self, con: duckdb.DuckDBPyConnection, pipeline: str) -> Tables:
        """The generation refreshes write to: the one being built, else the live one."""
        table = table_name(pipeline)
        create_catalog(con)
        return next_tables(table) if read_generations(con, table).building else live_tables(table)

    def _drop(self, con: duckdb.DuckDBPyConnection, tables: Tables) -> None:
        con.execute(f"DROP TABLE IF EXISTS {tables.rows}")
        con.execute(f"DROP TABLE IF EXISTS {tables.failures}")

    def generations(self, pipeline: str) -> Generations:
        """Returns the generation that serves and the one being built."""
        with self.connect() as con:
            create_catalog(con)
            return read_generations(con, table_name(pipeline))

    def owner(self, pipeline: str) -> TableIdentity | None:
        """Returns who owns the pipeline's table and what it serves (None before a claim)."""
        return self.generations(pipeline).serving

    def claim(self, identity: TableIdentity) -> Generations:
        """Records the owner of the pipeline's table; refuses a second pipeline mapping to it.

        Vectors of another model, dimension or task type than the live table's, or chunks
        where it holds whole documents (or the reverse), go to a new generation while the live
        one (if it has rows) keeps serving.
        """
        table = table_name(identity.pipeline)
        with self.connect() as con:
            create_catalog(con)
            con.execute("BEGIN")
            try:
                recorded = read_generations(con, table)
                check_owner(recorded.serving, identity, table=table)
                claimed = self._claim(con, table, recorded, identity)
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        return claimed

    def _claim(
        self,
        con: duckdb.DuckDBPyConnection,
        table: str,
        recorded: Generations,
        identity: TableIdentity,
    ) -> Generations:
        serving = recorded.serving
        live = live_tables(table)
        if (
            serving is None
            or same_vectors(serving, identity)
            or not self._exists(con, live)
            or not _scalar(con, f"SELECT count(*) FROM {live.rows}")
        ):  # nothing to keep serving: the live table is (re)claimed as is
            self._drop(con, next_tables(table))
            if serving is not None and not same_vectors(serving, identity):
                self._drop(con, live)  # empty, but its failures are of other vectors
            con.execute(
                f"INSERT OR REPLACE INTO {OWNERS_TABLE} (table_name, pipeline, model, dimension, "
                "task_type, claimed_at, chunked, next_model, next_dimension, next_task_type, "
                "next_chunked) VALUES (?, ?, ?, ?, ?, now(), ?, NULL, NULL, NULL, NULL)",
                [
                    table,
                    identity.pipeline,
                    identity.model,
                    identity.dimension,
                    identity.task_type,
                    identity.chunked,
                ],
            )
            return Generations(serving=identity)
        if recorded.building is None or not same_vectors(recorded.building, identity):
            self._drop(con, next_tables(table))  # a generation of other vectors: start afresh
            con.execute(
                f"UPDATE {OWNERS_TABLE} SET next_model = ?, next_dimension = ?, "
                "next_task_type = ?, next_chunked = ? WHERE table_name = ?",
                [identity.model, identity.dimension, identity.task_type, identity.chunked, table],
            )
        self._ensure(con, next_tables(table))
        return Generations(serving=serving, building=identity)

    def switch_generation(self, pipeline: str) -> None:
        """Makes the generation being built the live one and drops the old, in one transaction."""
        table = table_name(pipeline)
        live, building = live_tables(table), next_tables(table)
        with self.connect() as con:
            create_catalog(con)
            con.execute("BEGIN")
            if read_generations(con, table).building is None:
                con.execute("ROLLBACK")
                return
            self._ensure(con, building)
            self._drop(con, live)
            con.execute(f"ALTER TABLE {building.rows} RENAME TO {live.rows}")
            con.execute(f"ALTER TABLE {building.failures} RENAME TO {live.failures}")
            con.execute(
                f"UPDATE {OWNERS_TABLE} SET model = next_model, dimension = next_dimension, "
                "task_type = next_task_type, chunked = coalesce(next_chunked, false), "
                "next_model = NULL, next_dimension = NULL, next_task_type = NULL, "
                "next_chunked = NULL, claimed_at = now() WHERE table_name = ?",
                [table],
            )
            con.execute("COMMIT")

    def current_hashes(self, pipeline: str) -> pd.DataFrame:
        """Returns `id, content_hash, chunk_start, chunk_end` of the rows refreshes write to."""
        with self.connect() as con:
            tables = self._written(con, pipeline)
            if not self._exists(con, tables):
                return no_stored_rows()
            # Arrow-backed columns: a million ids and hashes stay compact and convert for free
            return (
                con.sql(f"SELECT id, content_hash, chunk_start, chunk_end FROM {tables.rows}")
                .to_arrow_table()
                .to_pandas(types_mapper=pd.ArrowDtype)
            )

    def export_keys(self, pipeline: str, path: Path) -> None:
        """Writes what `current_hashes` returns as a Parquet file; DuckDB streams the rows."""
        with self.connect() as con:
            tables = self._written(con, pipeline)
            if not self._exists(con, tables):
                write_keys(no_stored_rows(), path)
                return
            export_keys(con, tables.rows, path, memory_limit=self.memory_limit)

    def consumed_jobs(self, pipeline: str) -> set[str]:
        """Returns the names of the jobs whose output was landed or given up on."""
        with self.connect() as con:
            create_catalog(con)
            rows = con.execute(
                f"SELECT job_name FROM {CONSUMED_TABLE} WHERE table_name = ?",
                [table_name(pipeline)],
            ).fetchall()
        return {str(row[0]) for row in rows}

    def record_consumed_jobs(self, pipeline: str, names: Sequence[str]) -> None:
        """Records jobs as landed or of no use; recording one twice is harmless."""
        if not names:
            return
        with self.connect() as con:
            create_catalog(con)
            con.executemany(
                f"INSERT OR IGNORE INTO {CONSUMED_TABLE} VALUES (?, ?, now())",
                [[table_name(pipeline), name] for name in names],
            )

    def upsert(self, pipeline: str, rows: pa.Table) -> int:
        """Replaces the rows of the ids in `rows` and inserts the new ones, in one transaction."""
        if rows.num_rows == 0:
            return 0
        with self.writer(pipeline) as write:
            return write(rows)

    @contextmanager
    def writer(self, pipeline: str) -> Iterator[DuckDBWriter]:
        """Keeps one connection open for many upserts (each still its own transaction).

        Reopening the database for every prediction file costs a checkpoint each time; landing
        a submission of ten files is about a third faster through one writer. The writer also
        lands prediction files by SQL (`DuckDBWriter.land_file`).
        """
        with self.connect() as con:
            tables = self._written(con, pipeline)
            self._ensure(con, tables)
            writer = DuckDBWriter(con, tables.rows, memory_limit=self.memory_limit)
            yield writer
            writer.finish()

    def copy_by_hash(self, pipeline: str, wanted: pd.DataFrame, model: str) -> int:
        """Gives `wanted` ids the vector already stored for their content hash under another id."""
        if wanted.empty:
            return 0
        with self.connect() as con:
            tables = self._written(con, pipeline)
            self._ensure(con, tables)
            table = tables.rows
            con.register("wanted", keys_and_positions(wanted))
            con.execute("BEGIN")
            con.execute(
                "CREATE TEMP TABLE copied AS SELECT w.id, s.content_hash, s.embedding, s.model, "
                "s.token_count, now() AS embedded_at, s.truncated, w.document_id, w.chunk_index, "
                "w.chunk_start, w.chunk_end FROM wanted w JOIN (SELECT DISTINCT ON "
                "(content_hash) content_hash, embedding, model, token_count, truncated FROM "
                f"{table}) s USING (content_hash)"
            )
            con.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM copied)")
            con.execute(f"INSERT INTO {table} ({ROW_COLUMNS}) SELECT {ROW_COLUMNS} FROM copied")
            found = _scalar(con, "SELECT count(*) FROM copied")
            con.execute("DROP TABLE copied")
            con.execute("COMMIT")
        return found

    def delete_except(self, pipeline: str, keep: pd.DataFrame) -> int:
        """Deletes rows whose (id, content_hash) pair is not in `keep`."""
        return self._delete_except(pipeline, keep[["id", "content_hash"]])

    def delete_except_file(self, pipeline: str, kept: Path) -> int:
        """`delete_except` with the pairs to keep in a Parquet file, which DuckDB reads."""
        return self._delete_except(pipeline, kept)

    def _delete_except(self, pipeline: str, kept: pd.DataFrame | Path) -> int:
        with self.connect() as con:
            tables = self._written(con, pipeline)
            if not self._exists(con, tables):
                return 0
            return delete_pairs_not_in(con, tables.rows, kept, memory_limit=self.memory_limit)

    def replace_failures(self, pipeline: str, failures: pd.DataFrame) -> None:
        """Replaces the failure list with `failures` (`id, content_hash, reason`)."""
        with self.connect() as con:
            tables = self._written(con, pipeline)
            self._ensure(con, tables)
            con.register("failed_rows", failures[["id", "content_hash", "reason"]])
            con.execute("BEGIN")
            con.execute(f"DELETE FROM {tables.failures}")
            con.execute(
                f"INSERT INTO {tables.failures} SELECT id, content_hash, reason, now() "
                "FROM failed_rows"
            )
            con.execute("COMMIT")

    def failures(self, pipeline: str) -> pd.DataFrame:
        """Returns the rows that failed in the latest refresh."""
        with self.connect() as con:
            tables = self._written(con, pipeline)
            self._ensure(con, tables)
            return con.execute(f"SELECT * FROM {tables.failures} ORDER BY id").fetch_df()

    def model_of(self, pipeline: str) -> str | None:
        """Returns the model the live table's vectors were made with (None while it is empty)."""
        tables = live_tables(table_name(pipeline))
        with self.connect() as con:
            if not self._exists(con, tables):
                return None
            rows = con.execute(f"SELECT model FROM {tables.rows} LIMIT 1").fetchall()
        return str(rows[0][0]) if rows else None

    def read(self, pipeline: str) -> pd.DataFrame:
        """Returns the live table, ordered by id."""
        tables = live_tables(table_name(pipeline))
        with self.connect() as con:
            self._ensure(con, tables)
            return con.execute(f"SELECT * FROM {tables.rows} ORDER BY id").fetch_df()

    def preview(self, pipeline: str, *, rows: int) -> pd.DataFrame:
        """Returns the first `rows` rows of the live table, ordered by id."""
        tables = live_tables(table_name(pipeline))
        with self.connect() as con:
            self._ensure(con, tables)
            return con.execute(
                f"SELECT * FROM {tables.rows} ORDER BY id LIMIT ?", [rows]
            ).fetch_df()

    def stats(self, pipeline: str, *, dimension: int) -> StoreStats:
        """Counts the live table's rows, its vectors not `dimension` long, and non-finite ones."""
        tables = live_tables(table_name(pipeline))
        with self.connect() as con:
            self._ensure(con, tables)
            row = con.execute(
                f"SELECT count(*), count(*) FILTER (WHERE len(embedding) != ?), "
                # NaN and infinity propagate through a sum, so one sum per row finds them
                "count(*) FILTER (WHERE NOT coalesce(isfinite(list_sum(embedding)), true)), "
                "coalesce(sum(token_count), 0), count(*) FILTER (WHERE truncated) FROM "
                f"{tables.rows}",
                [dimension],
            ).fetchall()[0]
            examples = con.execute(
                f"SELECT id FROM {tables.rows} WHERE truncated ORDER BY id LIMIT ?",
                [TRUNCATED_EXAMPLES],
            ).fetchall()
            columns = con.execute(f"DESCRIBE {tables.rows}").fetchall()
        return StoreStats(
            rows=int(row[0]),
            wrong_dimension=int(row[1]),
            non_finite=int(row[2]),
            tokens=int(row[3]),
            truncated=int(row[4]),
            truncated_examples=tuple(str(r[0]) for r in examples),
            columns=tuple((str(c[0]), str(c[1])) for c in columns),
        )

    def search(self, pipeline: str, vector: npt.NDArray[np.float32], *, k: int) -> pd.DataFrame:
        """Returns the `k` documents closest to `vector` (cosine), best first.

        Each document once, by its best chunk (a row that is not a chunk is its own document):
        `id` (the chunk's), `similarity`, `document_id`, `chunk_start`, `chunk_end`.
        """
        tables = live_tables(table_name(pipeline))
        dimension = int(vector.shape[0])
        with self.connect() as con:
            self._ensure(con, tables)
            # a zero vector (stored or asked for) has no similarity: it is left out, never NaN
            return con.execute(
                "SELECT id, similarity, coalesce(document_id, id) AS document_id, chunk_start, "
                "chunk_end FROM (SELECT id, document_id, chunk_start, chunk_end, "
                f"array_cosine_similarity(embedding::FLOAT[{dimension}], ?::FLOAT[{dimension}]) "
                f"AS similarity FROM {tables.rows} WHERE len(embedding) = {dimension}) "
                "WHERE NOT isnan(similarity) QUALIFY row_number() OVER (PARTITION BY "
                "coalesce(document_id, id) ORDER BY similarity DESC, id) = 1 "
                "ORDER BY similarity DESC, id LIMIT ?",
                [vector.astype(float).tolist(), k],
            ).fetch_df()
