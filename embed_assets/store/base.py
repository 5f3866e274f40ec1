"""The protocol every embedding store follows, and the Arrow shape of rows it takes."""

import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from embed_assets.errors import TableOwnedError

ROW_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("content_hash", pa.string()),
        ("embedding", pa.list_(pa.float32())),
        ("model", pa.string()),
        ("token_count", pa.int32()),
        ("embedded_at", pa.timestamp("us", tz="UTC")),
        # the model cut the text to its input limit (reported by the service or local model)
        ("truncated", pa.bool_()),
        # where a chunk is in its document (all NULL when the pipeline does not chunk)
        ("document_id", pa.string()),
        ("chunk_index", pa.int32()),
        ("chunk_start", pa.int64()),
        ("chunk_end", pa.int64()),
    ]
)
POSITION_COLUMNS = ("document_id", "chunk_index", "chunk_start", "chunk_end")


# how many ids of truncated rows the stats name
TRUNCATED_EXAMPLES = 5


def with_row_defaults(rows: pa.Table) -> pa.Table:
    """`rows` with every column of `ROW_SCHEMA`: `truncated` False and positions NULL if missing."""
    for name in ("truncated", *POSITION_COLUMNS):
        if name not in rows.column_names:
            kind = ROW_SCHEMA.field(name).type
            value = False if name == "truncated" else None
            rows = rows.append_column(name, pa.array([value] * rows.num_rows, type=kind))
    return rows


def keys_and_positions(frame: pd.DataFrame) -> pa.Table:
    """`id, content_hash` and the position columns of `frame` (NULL where it has none)."""
    keys = [
        pa.array(frame[name].astype(object), type=pa.string()) for name in ("id", "content_hash")
    ]
    return pa.Table.from_arrays(
        [*keys, *position_arrays(frame, len(frame))],
        names=["id", "content_hash", *POSITION_COLUMNS],
    )


def no_stored_rows() -> pd.DataFrame:
    """What `current_hashes` returns for a table that does not exist yet."""
    text, number = pd.Series(dtype=object), pd.Series(dtype="Int64")
    return pd.DataFrame(
        {"id": text, "content_hash": text.copy(), "chunk_start": number, "chunk_end": number.copy()}
    )


def write_stored_keys(store: "EmbeddingStore", pipeline: str, path: Path) -> None:
    """Writes `id, content_hash, chunk_start, chunk_end` of the stored rows as a Parquet file.

    A store that can write the file itself (`export_keys(pipeline, path)`, as the DuckDB
    store does) keeps the keys out of this process; any other store's `current_hashes` is
    written.
    """
    export = getattr(store, "export_keys", None)
    if callable(export):
        export(pipeline, path)
        return
    write_keys(store.current_hashes(pipeline), path)


def delete_rows_not_in(store: "EmbeddingStore", pipeline: str, kept: Path) -> int:
    """Deletes the stored rows whose `(id, content_hash)` is not a row of the Parquet `kept`.

    A store that reads the file itself (`delete_except_file(pipeline, path)`, as the DuckDB
    store does) keeps the pairs out of this process; any other store's `delete_except` gets
    them as a frame.

    Returns:
        The rows deleted.
    """
    delete = getattr(store, "delete_except_file", None)
    if callable(delete):
        return int(delete(pipeline, kept))
    return store.delete_except(pipeline, pq.read_table(kept).to_pandas())


def write_keys(frame: pd.DataFrame, path: Path) -> None:
    """Writes a frame of stored keys (as `current_hashes` returns them) as that Parquet file."""
    keys = keys_and_positions(frame)
    pq.write_table(keys.select(["id", "content_hash", "chunk_start", "chunk_end"]), path)


def position_arrays(frame: pd.DataFrame | None, count: int) -> list[pa.Array]:
    """The position columns of `frame` as Arrow arrays (all NULL when it has none)."""
    return [position_array(frame, name, count) for name in POSITION_COLUMNS]


def position_array(frame: pd.DataFrame | None, name: str, count: int) -> pa.Array:
    """One position column of `frame` as an Arrow array (all NULL when it has none)."""
    kind = ROW_SCHEMA.field(name).type
    if frame is None or name not in frame.columns:
        return pa.nulls(count, type=kind)
    # NaN, None and NA are NULL; Arrow-backed and nullable columns convert without a copy
    return pa.array(frame[name], type=kind, from_pandas=True)


def embedding_rows(
    *,
    ids: Sequence[str] | npt.NDArray[np.object_],
    content_hashes: Sequence[str] | npt.NDArray[np.object_],
    vectors: npt.NDArray[np.float32],
    token_counts: npt.NDArray[np.int64] | Sequence[int],
    model: str,
    embedded_at: datetime | None = None,
    truncated: npt.NDArray[np.bool_] | Sequence[bool] | None = None,
    positions: pd.DataFrame | None = None,
) -> pa.Table:
    """Builds the Arrow table a store upserts, without copying the vectors row by row.

    `positions` holds the rows' `document_id, chunk_index, chunk_start, chunk_end` in order
    (None: the rows are whole documents).
    """
    count = len(ids)
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    dimension = matrix.shape[1] if matrix.ndim == 2 else 0
    offsets = pa.array(np.arange(count + 1, dtype=np.int32) * dimension, type=pa.int32())
    embedding = pa.ListArray.from_arrays(offsets, pa.array(matrix.reshape(-1), type=pa.float32()))
    when = embedded_at or datetime.now(UTC)
    return pa.Table.from_arrays(
        [
            pa.array(ids, type=pa.string()),
            pa.array(content_hashes, type=pa.string()),
            embedding,
            pa.array([model] * count, type=pa.string()),
            pa.array(np.asarray(token_counts, dtype=np.int32), type=pa.int32()),
            pa.array([when] * count, type=pa.timestamp("us", tz="UTC")),
            pa.array(
                np.zeros(count, dtype=np.bool_) if truncated is None else np.asarray(truncated),
                type=pa.bool_(),
            ),
            *position_arrays(positions, count),
        ],
        schema=ROW_SCHEMA,
    )


def table_name(pipeline: str) -> str:
    """Returns the SQL table name of a pipeline: its name in lowercase (`t_` before a digit)."""
    name = re.sub(r"[^0-9a-zA-Z_]", "_", pipeline).strip("_").lower() or "embeddings"
    return name if not name[0].isdigit() else f"t_{name}"


def generation_tables(table: str, *, building: bool) -> tuple[str, str]:
    """The names of one generation's rows table and failures table.

    Failed rows are in `_failures__<table>` in every store (`_next_failures__<table>` for a
    generation being built, whose rows are `_next__<table>`; DuckDB keeps those beside the
    live table as `<table>#next`). A pipeline's table name never starts with `_` (see
    `table_name`), so none collides with these.
    """
    if building:
        return f"_next__{table}", f"_next_failures__{table}"
    return table, f"_failures__{table}"


@dataclass(frozen=True)
class TableIdentity:
    """Who owns a table, and what its vectors are.

    Attributes:
        pipeline: the owning pipeline's name, exactly as given.
        model: the embedding model.
        dimension: the vector length.
        task_type: the task type sent with every prompt.
        chunked: the rows are chunks of documents (`EmbeddingPipeline(chunking=...)`), not
            whole documents.
    """

    pipeline: str
    model: str
    dimension: int
    task_type: str | None
    chunked: bool = False

    def describe(self) -> str:
        """`model` (`dimension`-d, task type ..., chunks), for messages."""
        task = f", task type {self.task_type}" if self.task_type else ""
        chunks = ", chunks of documents" if self.chunked else ""
        return f"{self.model} ({self.dimension}-d{task}{chunks})"


@dataclass(frozen=True)
class Generations:
    """The generation of a table that serves, and the one being built beside it.

    A change of model, dimension, task type or chunking builds a new generation; `read`, `stats` and
    `search` keep serving the old one until `switch_generation` replaces it in one transaction.

    Attributes:
        serving: what the live table holds (None before the first claim).
        building: what the generation being built will hold (None when none is).
    """

    serving: TableIdentity | None
    building: TableIdentity | None = None

    @property
    def written(self) -> TableIdentity | None:
        """The generation refreshes diff against and write to."""
        return self.building or self.serving


def same_vectors(one: TableIdentity, other: TableIdentity) -> bool:
    """True when rows made under `one` and `other` can share a table.

    Their vectors are interchangeable (model, dimension, task type), and both are chunks or
    both whole documents (every id differs between the two).
    """
    return (one.model, one.dimension, one.task_type, one.chunked) == (
        other.model,
        other.dimension,
        other.task_type,
        other.chunked,
    )


def check_owner(recorded: TableIdentity | None, claim: TableIdentity, *, table: str) -> None:
    """Refuses a claim on a table another pipeline owns (names that differ only in case, say).

    Raises:
        TableOwnedError: `recorded` names another pipeline.
    """
    if recorded is not None and recorded.pipeline != claim.pipeline:
        raise TableOwnedError(
            f"table {table} belongs to pipeline {recorded.pipeline!r}; pipeline "
            f"{claim.pipeline!r} maps to the same table and would change its rows. "
            "Give one of the pipelines another name (or another store)."
        )


@dataclass(frozen=True)
class StoreStats:
    """What the asset checks need to know about a table."""

    rows: int
    wrong_dimension: int
    non_finite: int
    tokens: int
    truncated: int = 0
    truncated_examples: tuple[str, ...] = ()
    columns: tuple[tuple[str, str], ...] = ()  # (name, type as the store declares it)


@dataclass(frozen=True)
class FileLanding:
    """What one prediction file landed: every line of it, each with a vector now stored.

    Attributes:
        written: rows written (a text submitted for several ids writes each of them).
        tokens: tokens the file's lines counted.
        landed: the content hashes landed, one per line.
    """

    written: int
    tokens: int
    landed: list[str]


@runtime_checkable
class FileWriter(Protocol):
    """A store writer that also lands a legacy prediction file itself (in SQL, say).

    `EmbeddingStore.writer` may return one; the lifecycle then hands it whole files.
    """

    def __call__(self, rows: pa.Table) -> int:
        """Upserts `rows`; returns how many were written."""
        ...

    def expect(self, wanted: pa.Table) -> None:
        """Sets the rows prediction files are landed for (`id, content_hash` and positions)."""
        ...

    def land_file(
        self, path: Path, *, hash_prefix: str, model: str, dimension: int
    ) -> FileLanding | None:
        """Lands a file in one transaction if every line lands (else None: nothing written)."""
        ...


@runtime_checkable
class EmbeddingStore(Protocol):
    """A table of embeddings per pipeline, keyed by `id`, with `content_hash` per row.

    Refreshes (`current_hashes`, `upsert`, `writer`, `copy_by_hash`, `delete_except`,
    `replace_failures`) act on the generation being built when there is one (see `Generations`);
    `read`, `stats` and `search` serve the live generation.
    """

    def table_ref(self, pipeline: str) -> str:
        """Returns where the pipeline's table lives, for humans (path and table name)."""
        ...

    def claim(self, identity: TableIdentity) -> Generations:
        """Records `identity` as the owner of its pipeline's table, and what it is to hold.

        When the table holds vectors of another model, dimension or task type, a new
        generation is started (or the one being built is kept, if it matches) and the live
        one keeps serving; a claim matching the live generation drops one being built.

        Raises:
            TableOwnedError: another pipeline owns the table.
        """
        ...

    def generations(self, pipeline: str) -> Generations:
        """Returns the generation that serves and the one being built."""
        ...

    def switch_generation(self, pipeline: str) -> None:
        """Makes the generation being built the live one, in one transaction; drops the old."""
        ...

    def current_hashes(self, pipeline: str) -> pd.DataFrame:
        """Returns `id, content_hash, chunk_start, chunk_end` of the rows refreshes write to."""
        ...

    def consumed_jobs(self, pipeline: str) -> set[str]:
        """Returns the names of the batch jobs whose output was landed or given up on."""
        ...

    def record_consumed_jobs(self, pipeline: str, names: Sequence[str]) -> None:
        """Records batch jobs as landed (or of no use): later refreshes do not adopt them."""
        ...

    def upsert(self, pipeline: str, rows: pa.Table) -> int:
        """Inserts rows, replacing rows with the same id; returns the rows written."""
        ...

    def writer(self, pipeline: str) -> AbstractContextManager[Callable[[pa.Table], int]]:
        """Opens the table for many upserts in a row; the callable upserts and returns rows."""
        ...

    def copy_by_hash(self, pipeline: str, wanted: pd.DataFrame, model: str) -> int:
        """Gives `wanted` ids (`id, content_hash`) the vector already stored under that hash."""
        ...

    def delete_except(self, pipeline: str, keep: pd.DataFrame) -> int:
        """Deletes rows whose `(id, content_hash)` is not in `keep`; returns rows deleted."""
        ...

    def replace_failures(self, pipeline: str, failures: pd.DataFrame) -> None:
        """Records the rows that failed in the latest refresh (`id, content_hash, reason`)."""
        ...

    def read(self, pipeline: str) -> pd.DataFrame:
        """Returns the whole table."""
        ...

    def preview(self, pipeline: str, *, rows: int) -> pd.DataFrame:
        """Returns the first `rows` rows of the table (by id), for a glance in the UI."""
        ...

    def stats(self, pipeline: str, *, dimension: int) -> StoreStats:
        """Counts rows, rows of the wrong dimension and rows with non-finite values."""
        ...

    def search(self, pipeline: str, vector: npt.NDArray[np.float32], *, k: int) -> pd.DataFrame:
        """Returns the `k` documents closest to `vector` by cosine similarity, best first.

        Each document once, by its best chunk (a row that is not a chunk is its own document):
        `id` (the chunk's), `similarity`, `document_id`, `chunk_start`, `chunk_end`.
        """
        ...


@dataclass(frozen=True)
class TableLanding:
    """What landing one prediction table where it lies did.

    Attributes:
        written: table rows inserted or updated.
        landed: prediction rows that landed.
        tokens: tokens of the prediction rows that landed.
        outcomes: per prediction row of a wanted hash: (content hash, "" when it landed, else
            the reason it failed); only the failed ones with `failures_only`.
    """

    written: int
    landed: int
    tokens: int
    outcomes: list[tuple[str, str]]


class Warehouse(Protocol):
    """What a store whose table lives in a SQL warehouse offers: work on rows where they are.

    A store declares it by a `warehouse()` method (see `store_warehouse`); the lifecycle then
    lands prediction tables with SQL, and a pipeline whose corpus and staging are in the same
    warehouse plans and lands there too (see `embed_assets.placements.bigquery`).
    """

    @property
    def dataset_id(self) -> str:
        """`project.dataset` of the store's tables (scratch tables go there too)."""
        ...

    def write_target(self, pipeline: str) -> AbstractContextManager[tuple[Any, str]]:
        """Yields a client and the quoted table refreshes write to (created if missing)."""
        ...

    def scratch_keys(self, client: Any, keys: "pd.DataFrame") -> AbstractContextManager[str]:
        """Loads `id, content_hash` rows into a scratch table; yields its quoted name."""
        ...

    def land_prediction_table(
        self,
        *,
        pipeline: str,
        predictions_uri: str,
        wanted: "pd.DataFrame | str",
        model: str,
        dimension: int,
        failures_only: bool = False,
    ) -> TableLanding | None:
        """Upserts the good rows of a prediction table for the `wanted` ids, with SQL.

        Returns None when the table cannot be joined in SQL (it has no `key` column).
        """
        ...

    def copy_by_hash_from(self, pipeline: str, keys_sql: str) -> int:
        """Gives the ids of a query's `id, content_hash` rows the vector stored under the hash."""
        ...


def store_warehouse(store: object) -> Warehouse | None:
    """The warehouse a store declares it lives in, or None (its rows pass through the process)."""
    declared = getattr(store, "warehouse", None)
    return declared() if callable(declared) else None
