"""Planning a refresh: diff the corpus against the store, then shard what must be embedded.

Only content hashes the store lacks are submitted, each distinct text once.
"""

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from embed_assets.corpus.prepared import PreparedCorpus
from embed_assets.errors import CorpusError, SubmissionError
from embed_assets.jobs.rows import (
    PLAN_REJECTED,
    PLAN_REUSE,
    PLAN_SUBMIT,
    PLAN_UNCHANGED,
    PLANS,
    refuse_kind_switch,
    shard_ranges,
)
from embed_assets.models.catalog import ModelSpec, PromptRule
from embed_assets.predictions.lines import Prompt, RequestSchema, request_line
from embed_assets.sql_text import sql_identifier, sql_path

# a row the table lacks under its id: reused or submitted, as its text is stored or not
PLAN_NEW = "new"
# DuckDB's memory for the diff: past it, its joins spill to the plan's folder
PLAN_MEMORY = "192MB"


@dataclass(frozen=True)
class Plan:
    """What one refresh has to do.

    Attributes:
        manifest: a Parquet file of every corpus row: `id, content_hash, plan, reason` (and
            the chunk position columns of chunk rows), where `plan` is `new` for a row that
            is either reused or submitted: `known` tells which (`final_sql`).
        known: a Parquet file of the new rows' content hashes the table holds (their rows
            are reused).
        prompts: the distinct texts to embed: `content_hash, content, title`, sorted by hash.
        counts: corpus rows per plan.
        stale_rows: stored rows that will be deleted or replaced.
        deleted_rows: stored rows whose id is not an accepted corpus row: landing deletes them.
        stored_rows: rows the table holds now.
    """

    manifest: str
    known: str
    prompts: pd.DataFrame
    counts: dict[str, int]
    stale_rows: int
    deleted_rows: int = 0
    stored_rows: int = 0

    def final_sql(self) -> str:
        """A query of every corpus row with its final plan (rejected, unchanged, reuse, submit)."""
        return final_plan_sql(self.manifest, self.known)

    def rows(self, plan: str) -> pd.DataFrame:
        """The rows of one plan, as a frame: for the few rows a step needs."""
        connection = plan_connection(Path(self.manifest).parent / "spill")
        try:
            table = connection.sql(
                f"SELECT * FROM ({self.final_sql()}) WHERE plan = $plan", params={"plan": plan}
            ).to_arrow_table()
        finally:
            connection.close()
        frame = table.to_pandas(types_mapper=pd.ArrowDtype)
        frame["reason"] = frame["reason"].astype(object).where(frame["reason"].notna(), None)
        return frame


def final_plan_sql(manifest: str, known: str) -> str:
    """The manifest's rows with `new` resolved: reused where `known` holds the text."""
    return (
        f"SELECT m.* REPLACE (CASE WHEN m.plan <> '{PLAN_NEW}' THEN m.plan WHEN "
        f"k.content_hash IS NOT NULL THEN '{PLAN_REUSE}' ELSE '{PLAN_SUBMIT}' END AS plan) "
        f"FROM read_parquet({sql_path(manifest)}) m LEFT JOIN "
        f"read_parquet({sql_path(known)}) k ON k.content_hash = m.content_hash"
    )


def check_rows_kind(corpus: PreparedCorpus, stored: Path, *, pipeline: str) -> None:
    """Refuses chunk rows for a table of whole documents, and the reverse.

    Every id would change, so such a switch is a new table, not a refresh.

    Raises:
        ConfigError: the table (its keys in the Parquet file `stored`) holds the other kind.
    """
    connection = duckdb.connect(config={"memory_limit": PLAN_MEMORY})
    try:
        rows, chunks = connection.execute(
            "SELECT count(*), count(chunk_start) FROM read_parquet(?)", [str(stored)]
        ).fetchone() or (0, 0)
    finally:
        connection.close()
    if rows:
        refuse_kind_switch(
            held_chunks=bool(chunks),
            makes_chunks=corpus.chunked and corpus.accepted > 0,
            pipeline=pipeline,
        )


def plan_connection(spill: Path, *, ordered: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in `PLAN_MEMORY`, spilling to `spill`.

    Row order is kept only when `ordered` (the manifest needs none, and keeping it costs memory).
    """
    return duckdb.connect(
        config={
            "memory_limit": PLAN_MEMORY,
            "temp_directory": str(spill),
            "preserve_insertion_order": ordered,
        }
    )


def _plan_sql(corpus: PreparedCorpus, stored: Path) -> str:
    """Each corpus row as rejected, unchanged (the table holds it) or new, by one hash join.

    The join key is 128 bits: DuckDB's 64-bit `hash` of the id and of the content hash (and,
    for a chunk, its place), not the strings, so the stored keys of 5,000,000 rows fit the
    memory limit instead of spilling. A false match needs a row's new content hash to share
    the 64-bit hash of its old one (about 1 in 10^19 per changed row).
    """
    keys = f"read_parquet({sql_path(stored)})"
    places = ", c.document_id, c.chunk_index, c.chunk_start, c.chunk_end" if corpus.chunked else ""
    # a stored whole document, or (chunks) a stored chunk at the same place, is unchanged
    place = "hash(chunk_start, COALESCE(chunk_end, -1))"
    same_chunk = (
        f"LEFT JOIN (SELECT DISTINCT hash(id) AS i, hash(content_hash) AS h, {place} AS p "
        f"FROM {keys} WHERE chunk_start IS NOT NULL) p ON p.i = hash(c.id) "
        f"AND p.h = hash(c.content_hash) AND p.p = hash(c.chunk_start, COALESCE(c.chunk_end, -1))"
        if corpus.chunked
        else ""
    )
    unchanged = "s.i IS NOT NULL OR p.i IS NOT NULL" if corpus.chunked else "s.i IS NOT NULL"
    return f"""
        SELECT c.id, c.content_hash, CASE
            WHEN c.reason IS NOT NULL THEN '{PLAN_REJECTED}'
            WHEN {unchanged} THEN '{PLAN_UNCHANGED}'
            ELSE '{PLAN_NEW}' END AS plan, c.reason{places}
        FROM read_parquet({sql_path(corpus.path)}) c
        LEFT JOIN (SELECT DISTINCT hash(id) AS i, hash(content_hash) AS h FROM {keys}
            WHERE chunk_start IS NULL) s ON s.i = hash(c.id) AND s.h = hash(c.content_hash)
        {same_chunk}
    """


def plan_refresh(corpus: PreparedCorpus, stored: Path, *, folder: Path) -> Plan:
    """Compares the prepared corpus with the stored keys; writes the manifest to `folder`.

    Chunk rows also carry `document_id, chunk_index, chunk_start, chunk_end`: a stored chunk
    whose text is the same but whose place in its document moved is not unchanged but reused
    (its row is written again with the new place, its vector kept). Every step is a DuckDB
    statement over the two files, in at most `PLAN_MEMORY` (spilling to `folder` beyond it):
    no step holds the corpus or the table's keys in this process.

    Args:
        corpus: the prepared corpus (`corpus.prepared`).
        stored: the table's keys as `store.base.write_stored_keys` writes them.
        folder: where the manifest (and DuckDB's spill) go; it must outlive the plan.
    """
    manifest, known = folder / "plan.parquet", folder / "known.parquet"
    connection = plan_connection(folder / "spill")
    try:
        connection.execute(f"COPY ({_plan_sql(corpus, stored)}) TO {sql_path(manifest)}")
        # the new rows' texts the table holds (under other ids): exact, and few to look up
        connection.execute(
            f"COPY (SELECT DISTINCT s.content_hash FROM read_parquet({sql_path(stored)}) s "
            f"SEMI JOIN (SELECT DISTINCT content_hash FROM read_parquet({sql_path(manifest)}) "
            f"WHERE plan = '{PLAN_NEW}') n ON n.content_hash = s.content_hash) TO {sql_path(known)}"
        )
        final = final_plan_sql(str(manifest), str(known))
        counts = dict.fromkeys(PLANS, 0) | {
            str(plan): int(count)
            for plan, count in connection.execute(
                f"SELECT plan, count(*) FROM ({final}) GROUP BY plan"
            ).fetchall()
        }
        # by the ids' 64-bit hashes: a count for the deletion guard, not what landing deletes
        stored_rows, deleted = connection.execute(
            f"SELECT count(*), count(*) FILTER (WHERE c.i IS NULL) FROM read_parquet("
            f"{sql_path(stored)}) s LEFT JOIN (SELECT DISTINCT hash(id) AS i FROM read_parquet("
            f"{sql_path(corpus.path)}) WHERE reason IS NULL) c ON c.i = hash(s.id)"
        ).fetchall()[0]
        prompts = _prompts(connection, corpus, final)
    finally:
        connection.close()
    if sum(counts.values()) != corpus.rows:  # every row has a plan, or nothing is submitted
        raise SubmissionError(
            f"the diff planned {sum(counts.values())} of {corpus.rows} corpus rows"
        )
    return Plan(
        manifest=str(manifest),
        known=str(known),
        prompts=pd.DataFrame(
            {
                name: prompts.column(name).to_numpy(zero_copy_only=False)
                for name in prompts.column_names
            }
        ),
        counts=counts,
        stale_rows=int(stored_rows) - counts[PLAN_UNCHANGED],
        deleted_rows=int(deleted),
        stored_rows=int(stored_rows),
    )


def _prompts(connection: duckdb.DuckDBPyConnection, corpus: PreparedCorpus, final: str) -> pa.Table:
    """The distinct texts to submit (`content_hash, content, title`), sorted by hash.

    Texts left in a source file (`corpus.texts`) are read from it by row (a chunk's by its
    offsets in its document), and each is checked against its hash: a source changed since it
    was prepared stops the refresh here, before a text is sent under another text's hash.

    Raises:
        CorpusError: the source file cannot be read, or no longer holds the texts it did.
    """
    places = ", c.chunk_start, c.chunk_end" if corpus.chunked else ""
    wanted = (
        f"SELECT c.row, c.content_hash, c.content, c.title{places} FROM read_parquet("
        f"{sql_path(corpus.path)}) c SEMI JOIN (SELECT DISTINCT content_hash FROM ({final}) "
        f"WHERE plan = '{PLAN_SUBMIT}') m ON m.content_hash = c.content_hash"
    )
    texts = corpus.texts
    if texts is None:
        return connection.sql(
            "SELECT content_hash, any_value(content) AS content, any_value(title) AS title "
            f"FROM ({wanted}) GROUP BY content_hash ORDER BY content_hash"
        ).to_arrow_table()
    column = sql_identifier(texts.column)
    text = (  # a chunk is its document's text between its offsets (characters, end exclusive)
        "CASE WHEN w.chunk_start IS NULL THEN s.text ELSE "
        "substring(s.text, w.chunk_start + 1, w.chunk_end - w.chunk_start) END"
        if corpus.chunked
        else "s.text"
    )
    try:
        # the rows wanted first, as a table: counted, they are the join's build side, and the
        # source's texts stream past them (built on, 500 MB of documents took the limit)
        connection.execute(f"CREATE TEMP TABLE embed_assets_wanted AS {wanted}")
        prompts = connection.sql(
            f"SELECT w.content_hash, any_value({text}) AS content, any_value(w.title) AS title "
            "FROM embed_assets_wanted w LEFT JOIN (SELECT file_row_number AS row, "
            f"{column} AS text "
            f"FROM read_parquet({sql_path(texts.path)}, file_row_number = true)) s "
            "ON s.row = w.row GROUP BY w.content_hash ORDER BY w.content_hash"
        ).to_arrow_table()
        connection.register("embed_assets_prompts", prompts)
        (changed,) = connection.execute(
            "SELECT count(*) FROM embed_assets_prompts WHERE content IS NULL OR "
            "sha256($prefix || coalesce(title, '') || chr(31) || content) <> content_hash",
            {"prefix": texts.hash_prefix},
        ).fetchall()[0]
        connection.unregister("embed_assets_prompts")
    except duckdb.Error as error:
        lines = str(error).strip().splitlines() or [type(error).__name__]
        raise CorpusError(
            f"the corpus file {texts.path} cannot be read for the texts to embed ({lines[0]}); "
            "materialize the corpus asset again"
        ) from error
    if changed:
        raise CorpusError(
            f"the corpus file {texts.path} changed since the corpus was prepared ({changed} of "
            f"the {prompts.num_rows} texts to embed differ); materialize the corpus asset again"
        )
    return prompts


def write_manifest(plan: Plan, shards: pa.Table, path: Path) -> None:
    """The plan's manifest with each submitted row's `shard` (-1 for the others), to `path`.

    Args:
        plan: the plan.
        shards: `content_hash, shard` of every submitted text.
        path: the Parquet file to write.
    """
    connection = plan_connection(Path(path).parent / "spill")
    try:
        connection.register("shards", shards)
        connection.execute(
            f"COPY (SELECT m.*, CASE WHEN m.plan = '{PLAN_SUBMIT}' THEN s.shard ELSE -1 END "
            f"::BIGINT AS shard FROM ({plan.final_sql()}) m LEFT JOIN shards s "
            f"ON s.content_hash = m.content_hash) TO {sql_path(path)}"
        )
    finally:
        connection.close()


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
    get them as `modelParameters` when they are created. A model whose prompt rule is
    `inline` reads the task type and title in each text.
    """
    gemini = spec.schema is RequestSchema.GEMINI
    inline = spec.prompt_rule is PromptRule.INLINE
    lines = [
        request_line(
            Prompt(key=h, content=c, title=t),
            schema=spec.schema,
            task_type=task_type,
            output_dimensionality=dimensionality if gemini else None,
            auto_truncate=auto_truncate if gemini else None,
            inline=inline,
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
