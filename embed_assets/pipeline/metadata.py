"""Every metadata key the library writes, and the builders that write them.

A page holds fewer than 15 rows a person reads: Dagster's own keys where they apply, a few
figures in human formats, tables as Markdown. The records code reads back (`history`) are
namespaced (`embed_assets/...`), one compact line each, last.
"""

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import orjson
import pandas as pd
import pyarrow.parquet as pq

import embed_assets.human as human
from embed_assets.jobs.guard import SpendEstimate
from embed_assets.jobs.landing import LandingReport
from embed_assets.jobs.record import Submission
from embed_assets.models.pricing import PRICE_TABLE_DATE, CostEstimate
from embed_assets.store.base import StoreStats, TableIdentity

# -- read back by the library ------------------------------------------------------------------
SUBMISSION_RECORD = "embed_assets/submission"  # the whole submission record, compact JSON
LANDING_REPORT = "embed_assets/landing"  # what landing did, compact JSON
RUN_TAG_SUBMISSION = "embed_assets/submission_id"  # run tag: the submission a run lands

# -- Dagster's own run tags the library reads or sets --------------------------------------------
ROOT_RUN_ID_TAG = "dagster/root_run_id"
DATA_VERSION_TAG = "dagster/data_version"
SENSOR_NAME_TAG = "dagster/sensor_name"
RUN_KEY_TAG = "dagster/run_key"

# -- standard Dagster keys ---------------------------------------------------------------------
ROW_COUNT = "dagster/row_count"
TABLE_NAME = "dagster/table_name"
COLUMN_SCHEMA = "dagster/column_schema"
URI = "dagster/uri"

# -- for people ----------------------------------------------------------------------------------
DATA_VERSION = "data_version"
ACCEPTED_ROWS = "accepted_rows"
REJECTED_ROWS = "rejected_rows"
REJECTIONS = "rejections"
REJECTED_FRACTION = "rejected_fraction"
MAX_REJECTED_FRACTION = "max_rejected_fraction"
SOURCE = "source"
MODEL = "model"
JOBS = "jobs"
PROMPTS = "prompts"
ROWS = "rows"
STATUS = "status"
SUBMISSION_ID = "submission"  # which submission a materialization or an observation is about
IN_FORCE = "submission_in_force"
ESTIMATED_COST = "estimated_cost"
ESTIMATED_COST_USD = "estimated_cost_usd"
ESTIMATED_PROMPTS = "estimated_prompts"
ESTIMATED_CHARACTERS = "estimated_characters"
ESTIMATED_TOKENS = "estimated_tokens"
EMBEDDED_ROWS = "embedded_rows"
DELETED_ROWS = "deleted_rows"
FAILED_ROWS = "failed_rows"
FAILURES = "failures"
STAGING = "staging"
CORPUS_ROWS = "corpus_rows"
PROGRESS = "progress"
ROWS_DONE = "rows_done"
ROWS_TOTAL = "rows_total"
JOBS_FINISHED = "jobs_finished"
JOBS_TOTAL = "jobs_total"
JOBS_PAUSED = "jobs_paused"
JOB_STATES = "job_states"
PREVIEW = "preview"
# read back from the landing record
TRUNCATED_ROWS = "truncated_rows"  # texts the model cut to its input limit
TRUNCATED_EXAMPLES = "truncated_examples"
# asset-check metadata
COVERAGE = "coverage"
ROWS_WITH_WRONG_DIMENSION = "rows_with_wrong_dimension"
EXPECTED_DIMENSION = "expected"
ROWS_WITH_NON_FINITE_VALUES = "rows_with_non_finite_values"
EMBEDDED = "embedded"
FAILED = "failed"
REJECTED = "rejected"
MAX_INPUT_TOKENS = "max_input_tokens"

EXAMPLES = 5

# what the columns of an embedding table hold, for its column schema
EMBEDDING_COLUMNS = {
    "id": "the corpus row's id, as the source wrote it (with chunking: `<document>#<chunk>`)",
    "content_hash": "what was embedded, hashed",
    "embedding": "the vector",
    "model": "the model that embedded it",
    "token_count": "the tokens the model read",
    "embedded_at": "when its prediction was landed",
    "truncated": "the model cut the text to its input limit",
    "document_id": "with chunking: the document of the chunk",
    "chunk_index": "with chunking: the chunk's place in its document",
    "chunk_start": "with chunking: the chunk's first character in the document",
    "chunk_end": "with chunking: the character after the chunk",
}
# ... and of a prepared corpus file
CORPUS_COLUMNS = {
    "id": "the row's id, as the source wrote it",
    "content": "the text to embed",
    "title": "the title sent with the text",
    "content_hash": "what is embedded, hashed",
    "row": "the row's place in the source",
    "reason": "why the row was rejected (empty when it was accepted)",
}


def _cell(value: Any) -> str:
    """A table cell: a fraction to three places (`0.567`, not `0.5669999718666077`)."""
    fraction = isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)
    text = f"{value:.3f}" if fraction else str(value)
    return text.replace("|", "\\|")


def markdown_table(rows: pd.DataFrame, columns: list[str], *, limit: int = EXAMPLES) -> str:
    """Renders the first rows of a frame as a Markdown table ("none" when empty)."""
    if rows.empty:
        return "none"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows.head(limit)[columns].itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def column_schema(
    columns: Sequence[tuple[str, str]], descriptions: Mapping[str, str]
) -> dg.TableSchema:
    """The column schema of a table as its store declares it, described where known."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, kind, description=descriptions.get(name)) for name, kind in columns
        ]
    )


def file_columns(path: str) -> list[tuple[str, str]]:
    """`(name, Arrow type)` of each column of a Parquet file."""
    return [(field.name, str(field.type)) for field in pq.read_schema(path)]


def preview_table(rows: pd.DataFrame) -> str:
    """A few rows of the table with each vector's first values rounded: a glance, not a dump."""
    if rows.empty:
        return "the table is empty"
    shown = rows.assign(
        embedding=[
            "[" + ", ".join(f"{v:.3f}" for v in list(vector)[:4]) + ", …]"
            for vector in rows["embedding"]
        ]
    )
    return markdown_table(shown, ["id", "model", "embedding", "token_count"], limit=len(rows))


def _record(data: Any) -> dg.TextMetadataValue:
    """A record the library reads back: one compact line, not a JSON tree to scroll past."""
    return dg.MetadataValue.text(orjson.dumps(data).decode())


def spend_metadata(estimate: SpendEstimate) -> dict[str, Any]:
    """What a refresh is about to pay for, before its jobs are created (or why it was refused)."""
    entries: dict[str, Any] = {
        ESTIMATED_PROMPTS: dg.MetadataValue.int(estimate.prompts),
        ESTIMATED_CHARACTERS: dg.MetadataValue.int(estimate.characters),
        ESTIMATED_COST: cost_value(CostEstimate(estimate.usd, estimate.basis)),
        ESTIMATED_COST_USD: dg.MetadataValue.float(estimate.usd),  # for a plot or a policy
    }
    if estimate.tokens is not None:
        entries[ESTIMATED_TOKENS] = dg.MetadataValue.int(estimate.tokens)
    return entries


def cost_value(cost: CostEstimate) -> dg.TextMetadataValue:
    """`$0.0012 (estimate: …)`: the amount first, labelled as an estimate with its basis.

    The price table's source is in the docs: the value stays short enough to read in a row.
    """
    return dg.MetadataValue.text(
        f"{human.usd(cost.usd)} (estimate: {cost.basis}; list prices of {PRICE_TABLE_DATE})"
    )


def corpus_counts_metadata(
    *,
    rows: int,
    rejected_by_reason: dict[str, int],
    examples: pd.DataFrame,
    version: str,
    model: str,
    source: str,
    columns: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """The corpus asset's metadata: row counts, rejections by reason with examples, the schema.

    `examples`: `row, id, reason` of a few rejected rows.
    """
    rejected = sum(rejected_by_reason.values())
    entries: dict[str, Any] = {
        ROW_COUNT: dg.MetadataValue.int(rows),
        ACCEPTED_ROWS: dg.MetadataValue.int(rows - rejected),
        REJECTED_ROWS: dg.MetadataValue.int(rejected),
    }
    if rejected:
        entries[REJECTIONS] = dg.MetadataValue.md(_rejections(rejected_by_reason, examples))
    if columns:
        entries[COLUMN_SCHEMA] = dg.MetadataValue.table_schema(
            column_schema(columns, CORPUS_COLUMNS)
        )
    return {
        **entries,
        SOURCE: dg.MetadataValue.text(source),
        MODEL: dg.MetadataValue.text(model),
        DATA_VERSION: dg.MetadataValue.text(version),
    }


def _rejections(by_reason: Mapping[str, int], examples: pd.DataFrame) -> str:
    """`| reason | rows | for example |`, most rows first."""
    lines = ["| reason | rows | for example |", "|---|---|---|"]
    for reason, count in sorted(by_reason.items(), key=lambda item: -item[1]):
        some = examples[examples["reason"] == reason] if not examples.empty else examples
        ids = ", ".join(
            f"`{i}` (row {r})"
            for i, r in zip(some.get("id", []), some.get("row", []), strict=False)
        )
        lines.append(f"| {_cell(reason)} | {count:,} | {_cell(ids) or '-'} |")
    return "\n".join(lines)


def submission_metadata(
    submission: Submission,
    *,
    cost: CostEstimate,
    version: str,
    in_force: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The batch-job asset's metadata: the figures a person looks for, the record last.

    Args:
        submission: what was submitted.
        cost: its estimated cost.
        version: the data version the materialization records.
        in_force: for a submission with nothing to land, `(submission id, run id)` of the
            landing the table reflects, if any.
    """
    entries: dict[str, Any] = {}
    if not submission.needs_landing:
        entries[STATUS] = dg.MetadataValue.text(nothing_new(in_force))
        if in_force is not None:
            entries[IN_FORCE] = dg.MetadataValue.dagster_run(in_force[1])
    else:
        entries.update(
            {
                PROMPTS: dg.MetadataValue.int(submission.prompts),
                ESTIMATED_COST: cost_value(cost),
                JOBS: dg.MetadataValue.md(_jobs_table(submission)),
            }
        )
    return {
        **entries,
        ROWS: dg.MetadataValue.text(_row_plan(submission)),
        MODEL: dg.MetadataValue.text(submission.model),
        SUBMISSION_ID: dg.MetadataValue.text(submission.submission_id),
        DATA_VERSION: dg.MetadataValue.text(version),
        SUBMISSION_RECORD: _record(submission.to_json()),  # read back; shown last
    }


def nothing_new(in_force: tuple[str, str] | None) -> str:
    """The one line of a refresh with nothing to embed, naming what the table reflects."""
    if in_force is None:
        return "nothing new to embed"
    return f"nothing new to embed: the table reflects submission {in_force[0]}"


def _jobs_table(submission: Submission) -> str:
    """One row per job; its requests as a path, not a link (landing removes them)."""
    lines = ["| shard | job | prompts | requests (removed once landed) |", "|---|---|---|---|"]
    for job in submission.jobs:
        name = f"[{job.name}]({job.url})" if job.url else f"`{job.name}`"
        adopted = " (adopted)" if job.adopted else ""
        lines.append(f"| {job.shard} | {name}{adopted} | {job.prompts:,} | `{job.input_uri}` |")
    return "\n".join(lines)


def _row_plan(submission: Submission) -> str:
    """`40 corpus rows: 30 to embed, 8 unchanged, 2 reused, 1 stale, 0 rejected`."""
    parts = [
        f"{submission.prompts:,} to embed",
        f"{submission.unchanged_rows:,} unchanged",
        f"{submission.reused_rows:,} reused",
        f"{submission.stale_rows:,} stale",
        f"{submission.rejected_rows:,} rejected",
    ]
    if submission.adopted_prompts:
        parts.append(f"{submission.adopted_prompts:,} in jobs adopted from an earlier submission")
    return f"{human.plural(submission.corpus_rows, 'corpus row')}: {', '.join(parts)}"


def landing_record(report: LandingReport, *, stats: StoreStats, dimension: int) -> dict[str, Any]:
    """What landing did and what the serving table holds.

    The CLI's summary and the embeddings checks read it back.
    """
    return {
        "submission_id": report.submission_id,
        "corpus_rows": report.corpus_rows,
        "embedded_rows": report.embedded_ids,
        "written_rows": report.written_rows,
        "reused_rows": report.reused_rows,
        "deleted_rows": report.deleted_rows,
        "failed_rows": report.failed_rows,
        "rejected_rows": report.rejected_rows,
        "tokens": report.tokens,
        "prediction_files": report.prediction_files,
        "job_states": dict(report.job_states),
        "duplicate_jobs": report.duplicate_jobs,
        "shortened_vectors": report.shortened_vectors,
        "failed_examples": markdown_table(report.failures, ["id", "reason"]),
        "serving_model": _model(report.generations.serving),
        "building_model": _model(report.generations.building),
        "generation_switched": report.switched,
        "table_rows": stats.rows,
        "dimension": dimension,
        "rows_with_wrong_dimension": stats.wrong_dimension,
        "rows_with_non_finite_values": stats.non_finite,
        TRUNCATED_ROWS: stats.truncated,
        TRUNCATED_EXAMPLES: list(stats.truncated_examples),
    }


def _model(identity: TableIdentity | None) -> str | None:
    """The generation's model, and `(chunks)` when its rows are chunks of documents."""
    if identity is None:
        return None
    return f"{identity.model} (chunks)" if identity.chunked else identity.model


def landing_metadata(
    report: LandingReport,
    *,
    stats: StoreStats,
    table: str,
    dimension: int,
    cost: CostEstimate,
    preview: pd.DataFrame,
    staging_kept: bool,
) -> dict[str, Any]:
    """The embeddings asset's metadata after landing a submission."""
    serving = _model(report.generations.serving) or "-"
    building = _model(report.generations.building)
    entries: dict[str, Any] = {
        ROW_COUNT: dg.MetadataValue.int(stats.rows),
        TABLE_NAME: dg.MetadataValue.text(table),
        COLUMN_SCHEMA: dg.MetadataValue.table_schema(
            column_schema(stats.columns, EMBEDDING_COLUMNS)
        ),
        PREVIEW: dg.MetadataValue.md(preview_table(preview)),
        MODEL: dg.MetadataValue.text(
            f"{serving}; {building} is being built beside it" if building else serving
        ),
        EMBEDDED_ROWS: dg.MetadataValue.int(report.embedded_ids),
        FAILED_ROWS: dg.MetadataValue.int(report.failed_rows),
        REJECTED_ROWS: dg.MetadataValue.int(report.rejected_rows),
        DELETED_ROWS: dg.MetadataValue.int(report.deleted_rows),
        ESTIMATED_COST: cost_value(cost),
    }
    if report.failed_rows:
        entries[FAILURES] = dg.MetadataValue.md(markdown_table(report.failures, ["id", "reason"]))
    entries[STAGING] = dg.MetadataValue.text(
        "kept (keep_staging)" if staging_kept else "requests and predictions removed after landing"
    )
    entries[LANDING_REPORT] = _record(landing_record(report, stats=stats, dimension=dimension))
    return entries


def progress_metadata(
    submission: Submission,
    states: Mapping[str, str],
    *,
    finished: int,
    done: int,
    elapsed: float | None,
) -> dict[str, Any]:
    """An observation of the batch-job asset: rows and jobs done so far, and time left."""
    counts: dict[str, int] = {}
    for job in submission.jobs:
        state = states.get(job.name, "UNKNOWN")
        counts[state] = counts.get(state, 0) + 1
    total = sum(job.prompts for job in submission.jobs)
    return {
        PROGRESS: dg.MetadataValue.text(human.progress(done, total, elapsed=elapsed)),
        ROWS_DONE: dg.MetadataValue.int(done),
        ROWS_TOTAL: dg.MetadataValue.int(total),
        JOBS_FINISHED: dg.MetadataValue.int(finished),
        JOBS_TOTAL: dg.MetadataValue.int(len(submission.jobs)),
        JOBS_PAUSED: dg.MetadataValue.int(counts.get("PAUSED", 0)),
        JOB_STATES: dg.MetadataValue.text(
            ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        ),
        SUBMISSION_ID: dg.MetadataValue.text(submission.submission_id),
    }
