"""Planning a refresh: diff the corpus against the store, then shard what must be embedded.

Only content hashes the store lacks are submitted, each distinct text once.
"""

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from embed_assets.corpus.batches import done_reading, will_read
from embed_assets.corpus.chunking import arrow_chunks
from embed_assets.corpus.hashing import arrow_strings
from embed_assets.errors import ConfigError, SubmissionError
from embed_assets.models.catalog import ModelSpec
from embed_assets.predictions.lines import Prompt, RequestSchema, request_line
from embed_assets.store.base import POSITION_COLUMNS, position_array

PLAN_SUBMIT = "submit"
PLAN_UNCHANGED = "unchanged"
PLAN_REUSE = "reuse"
PLAN_REJECTED = "rejected"
PLANS = [PLAN_REJECTED, PLAN_UNCHANGED, PLAN_REUSE, PLAN_SUBMIT]
# DuckDB's memory for the diff: past it, its joins spill to a temporary folder
PLAN_MEMORY = "192MB"


@dataclass(frozen=True)
class Plan:
    """What one refresh has to do.

    Attributes:
        manifest: every corpus row: `id, content_hash, plan, reason, shard` (and the chunk
            position columns of chunk rows).
        prompts: the distinct texts to embed: `content_hash, content, title`, sorted by hash.
        stale_rows: stored rows that will be deleted or replaced.
        deleted_rows: stored rows whose id is not an accepted corpus row: landing deletes them.
        stored_rows: rows the table holds now.
    """

    manifest: pd.DataFrame
    prompts: pd.DataFrame
    stale_rows: int
    deleted_rows: int = 0
    stored_rows: int = 0


def _arrow(frame: pd.DataFrame, columns: list[str]) -> pa.Table:
    """The columns as an Arrow table; zero-copy for Arrow-backed columns.

    Position columns (`chunk_start`, ...) have the table's types, NULL where the frame has none.
    """
    return pa.table(
        {
            name: position_array(frame, name, len(frame))
            if name in POSITION_COLUMNS
            else arrow_strings(frame[name])
            for name in columns
        }
    )


def pairs_present(pairs: pd.DataFrame, stored: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Which `(id, content_hash)` rows of `pairs` are also rows of `stored`, by a hash join."""
    connection = duckdb.connect()
    try:
        connection.register("wanted", _arrow(pairs, ["id", "content_hash"]))
        connection.register("stored", _arrow(stored, ["id", "content_hash"]))
        found = connection.sql(
            "SELECT s.id IS NOT NULL AS hit FROM (SELECT row_number() OVER () AS position, * "
            "FROM wanted) w LEFT JOIN (SELECT DISTINCT id, content_hash FROM stored) s "
            "ON s.id = w.id AND s.content_hash = w.content_hash ORDER BY w.position"
        ).to_arrow_table()
    finally:
        connection.close()
    return found.column("hit").to_numpy()


def check_rows_kind(corpus: pd.DataFrame, stored: pd.DataFrame, *, pipeline: str) -> None:
    """Refuses chunk rows for a table of whole documents, and the reverse.

    Every id would change, so such a switch is a new table, not a refresh.

    Raises:
        ConfigError: the table holds the other kind of rows.
    """
    if stored.empty or "chunk_start" not in stored.columns:
        return
    refuse_kind_switch(
        held_chunks=bool(stored["chunk_start"].notna().any()),
        makes_chunks="chunk_start" in corpus.columns and bool(corpus["chunk_start"].notna().any()),
        pipeline=pipeline,
    )


def refuse_kind_switch(*, held_chunks: bool, makes_chunks: bool, pipeline: str) -> None:
    """Refuses a refresh that would write chunks where the table holds whole documents.

    Raises:
        ConfigError: `held_chunks` and `makes_chunks` differ.
    """
    if held_chunks != makes_chunks:
        held, made = ("chunks", "whole documents") if held_chunks else ("whole documents", "chunks")
        raise ConfigError(
            f"the table of pipeline {pipeline} holds {held}, but the pipeline now embeds {made}: "
            "every id would change, so this needs a new table; give the pipeline a new name "
            "(the old table stays as it is), or drop its table first"
        )


def _plan_codes(corpus: pd.DataFrame, stored: pd.DataFrame, *, spill: str) -> tuple[pa.Table, int]:
    """Each corpus row's plan (`plan, position`, in no order) and the stored rows to delete.

    DuckDB holds at most `PLAN_MEMORY` and spills the joins to `spill` beyond it, so the
    diff's memory does not grow with the corpus.
    """
    connection = duckdb.connect(config={"memory_limit": PLAN_MEMORY, "temp_directory": spill})
    try:
        places = ["chunk_start", "chunk_end"]
        rows = _arrow(corpus, ["id", "content_hash", "reason", *places])
        # each row's place, as a column: a window's row_number() would hold every row at once
        connection.register(
            "corpus_rows", rows.append_column("position", pa.array(np.arange(len(corpus))))
        )
        connection.register("stored", _arrow(stored, ["id", "content_hash", *places]))
        planned = connection.sql(
            f"""
            SELECT CASE
                WHEN c.reason IS NOT NULL THEN {PLANS.index(PLAN_REJECTED)}
                WHEN s.id IS NOT NULL THEN {PLANS.index(PLAN_UNCHANGED)}
                WHEN known.content_hash IS NOT NULL THEN {PLANS.index(PLAN_REUSE)}
                ELSE {PLANS.index(PLAN_SUBMIT)} END::TINYINT AS plan, c.position
            FROM corpus_rows c
            LEFT JOIN stored s ON s.id = c.id AND s.content_hash = c.content_hash
                AND (s.chunk_start IS NULL OR (s.chunk_start IS NOT DISTINCT FROM c.chunk_start
                    AND s.chunk_end IS NOT DISTINCT FROM c.chunk_end))
            LEFT JOIN (SELECT DISTINCT content_hash FROM stored) known
                ON known.content_hash = c.content_hash
            """
        ).to_arrow_table()
        deleted = connection.sql(
            "SELECT count(*) FROM stored s WHERE NOT EXISTS (SELECT 1 FROM corpus_rows c "
            "WHERE c.reason IS NULL AND c.id = s.id)"
        ).fetchall()[0][0]
    finally:
        connection.close()
    return planned, int(deleted)


def plan_refresh(corpus: pd.DataFrame, stored: pd.DataFrame) -> Plan:
    """Compares the corpus (`id, content, title, content_hash, reason`) with the store.

    Chunk rows also carry `document_id, chunk_index, chunk_start, chunk_end`: a stored chunk
    whose text is the same but whose place in its document moved is not unchanged but reused
    (its row is written again with the new place, its vector kept). The comparison is two hash
    joins in DuckDB over Arrow columns, so a million rows diff in well under a second and no
    Python object is made per row.
    """
    with tempfile.TemporaryDirectory(prefix="embed-assets-plan-") as spill:
        planned, deleted = _plan_codes(corpus, stored, spill=spill)
    # a category per row, not a str: a million rows cost a megabyte; put in place, not sorted
    codes = np.full(len(corpus), -1, dtype=np.int8)
    codes[planned.column("position").to_numpy()] = planned.column("plan").to_numpy()
    if (codes < 0).any():  # every row has a plan, or nothing is submitted on a guess
        raise SubmissionError(f"the diff planned no action for {(codes < 0).sum()} corpus rows")
    plan = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(PLANS))
    submit = np.flatnonzero(plan == PLAN_SUBMIT)
    prompts = (
        pd.DataFrame(
            {name: taken(corpus[name], submit) for name in ["content_hash", "content", "title"]}
        )
        .drop_duplicates("content_hash")
        .sort_values("content_hash", kind="stable")
        .reset_index(drop=True)
    )
    manifest = pd.DataFrame(
        {
            "id": corpus["id"].array,
            "content_hash": corpus["content_hash"].array,
            "plan": plan,
            "reason": corpus["reason"].to_numpy(dtype=object),  # set on rejected rows only
            **{name: corpus[name].array for name in POSITION_COLUMNS if name in corpus.columns},
        }
    )
    stale = len(stored) - int((plan == PLAN_UNCHANGED).sum())
    return Plan(
        manifest=manifest,
        prompts=prompts,
        stale_rows=stale,
        deleted_rows=int(deleted),
        stored_rows=len(stored),
    )


def taken(column: pd.Series, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
    """The values at `positions` (ascending) as Python objects.

    An Arrow column is taken chunk by chunk: Arrow's own take of a column of many chunks joins
    them into one first, a copy of every text.
    """
    if not isinstance(column.dtype, pd.ArrowDtype | pd.StringDtype):
        return column.to_numpy(dtype=object)[positions]
    chunks = arrow_chunks(arrow_strings(column))
    edges = np.cumsum([0, *map(len, chunks)])
    bounds = np.searchsorted(positions, edges)
    parts = []
    for chunk, first, lo, hi in zip(chunks, edges, bounds, bounds[1:], strict=False):
        rows = positions[lo:hi] - first
        will_read(chunk, rows)  # a chunked corpus's texts are read from disk: all at once
        parts.append(chunk.take(pa.array(rows)).to_numpy(zero_copy_only=False))
        done_reading(chunk)
    return np.concatenate([np.empty(0, dtype=object), *parts])


def shard_ranges(count: int, max_per_shard: int) -> Iterator[tuple[int, int]]:
    """Splits `count` rows into consecutive (start, stop) ranges of at most `max_per_shard`."""
    if max_per_shard < 1:
        raise ConfigError(f"max_prompts_per_job must be at least 1, got {max_per_shard}")
    shards = -(-count // max_per_shard)
    size = -(-count // shards) if shards else 0  # balanced shards
    for start in range(0, count, size or 1):
        yield start, min(start + size, count)


def shard_prompts(
    prompts: pd.DataFrame, spec: ModelSpec, max_prompts: int
) -> list[tuple[int, int]]:
    """Splits prompts into shards within the model's prompt (and byte) limits per job."""
    limit = min(max_prompts, spec.max_prompts_per_job)
    ranges = list(shard_ranges(len(prompts), limit))
    if spec.max_bytes_per_job is None:
        return ranges
    sizes = (prompts["content"].str.len() * 4 + 512).to_numpy()  # a generous upper bound in bytes
    result: list[tuple[int, int]] = []
    for start, stop in ranges:
        begin, used = start, 0
        for row in range(start, stop):
            if used + sizes[row] > spec.max_bytes_per_job and row > begin:
                result.append((begin, row))
                begin, used = row, 0
            used += int(sizes[row])
        result.append((begin, stop))
    return result


def render_shard(
    prompts: pd.DataFrame,
    spec: ModelSpec,
    task_type: str | None,
    dimensionality: int | None,
    *,
    auto_truncate: bool = True,
) -> bytes:
    """Renders the request lines of one shard (the Gemini key is the content hash).

    Gemini lines carry `output_dimensionality` and `auto_truncate` themselves; legacy jobs
    get them as `modelParameters` when they are created.
    """
    gemini = spec.schema is RequestSchema.GEMINI
    lines = [
        request_line(
            Prompt(key=h, content=c, title=t),
            schema=spec.schema,
            task_type=task_type,
            output_dimensionality=dimensionality if gemini else None,
            auto_truncate=auto_truncate if gemini else None,
        )
        for h, c, t in zip(
            prompts["content_hash"], prompts["content"], prompts["title"], strict=True
        )
    ]
    return b"".join(lines)


def render_prompts_table(prompts: pd.DataFrame, task_type: str | None) -> pa.Table:
    """Renders one shard as a BigQuery prompts table (legacy models).

    Columns `content`, `task_type` and `title` are what the model reads; `key` (the content
    hash) comes back in the prediction table beside them, for a join in SQL.
    """
    size = len(prompts)
    titles = [t if isinstance(t, str) and t else None for t in prompts["title"]]
    return pa.table(
        {
            "content": pa.array(prompts["content"].tolist(), pa.string()),
            "task_type": pa.array([task_type] * size, pa.string()),
            "title": pa.array(titles, pa.string()),
            "key": pa.array(prompts["content_hash"].tolist(), pa.string()),
        }
    )
