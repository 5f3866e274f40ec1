"""Every metadata key the library writes, the builders that write them, and the readers.

Keys that code reads back are namespaced (`embed_assets/...`); the rest are for people and
only written. Standard Dagster keys are used where they apply.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg
import orjson
import pandas as pd

from embed_assets.jobs.guard import SpendEstimate
from embed_assets.jobs.landing import LandingReport
from embed_assets.jobs.record import Submission
from embed_assets.models.pricing import CostEstimate
from embed_assets.store.base import StoreStats, TableIdentity

# -- read back by the library ------------------------------------------------------------------
SUBMISSION_RECORD = "embed_assets/submission"  # the whole submission record, JSON
SUBMISSION_ID = "embed_assets/submission_id"  # which submission a materialization is about
LANDING_REPORT = "embed_assets/landing"  # what landing did, JSON
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
CORPUS_VERSION = "corpus_version"
ACCEPTED_ROWS = "accepted_rows"
REJECTED_ROWS = "rejected_rows"
REJECTED_BY_REASON = "rejected_by_reason"
REJECTED_EXAMPLES = "rejected_examples"
REJECTED_FRACTION = "rejected_fraction"
MAX_REJECTED_FRACTION = "max_rejected_fraction"
SOURCE = "source"
MODEL = "model"
JOBS = "jobs"
JOB_NAMES = "job_names"
PROMPTS = "prompts"
CHARACTERS = "characters"
CORPUS_ROWS = "corpus_rows"
UNCHANGED_ROWS = "unchanged_rows"
REUSED_ROWS = "reused_rows"
STALE_ROWS = "stale_rows"
MANIFEST_URI = "manifest_uri"
OUTPUT_URI = "output_uri"
ADOPTED_PROMPTS = "adopted_prompts"
ESTIMATED_COST_USD = "estimated_cost_usd"
ESTIMATED_PROMPTS = "estimated_prompts"
ESTIMATED_CHARACTERS = "estimated_characters"
ESTIMATED_TOKENS = "estimated_tokens"
ESTIMATED_COST_BASIS = "estimated_cost_basis"
TABLE = "table"
SERVING_MODEL = "serving_model"  # the model of the vectors the table serves
BUILDING_MODEL = "building_model"  # set while a new generation is built beside the table
GENERATION_SWITCHED = "generation_switched"
DIMENSION = "dimension"
EMBEDDED_ROWS = "embedded_rows"
WRITTEN_ROWS = "written_rows"
DELETED_ROWS = "deleted_rows"
FAILED_ROWS = "failed_rows"
FAILED_EXAMPLES = "failed_examples"
TOKENS = "tokens"
PREDICTION_FILES = "prediction_files"
JOB_STATES = "job_states"
DUPLICATE_JOBS = "duplicate_jobs"  # second jobs of a shard (lost create answers), not landed
SHORTENED_VECTORS = "shortened_vectors"  # longer than asked for: cut and renormalized
TRUNCATED_ROWS = "truncated_rows"  # texts the model cut to its input limit
TRUNCATED_EXAMPLES = "truncated_examples"
MAX_INPUT_TOKENS = "max_input_tokens"
JOBS_FINISHED = "jobs_finished"
JOBS_TOTAL = "jobs_total"
JOBS_PAUSED = "jobs_paused"
PREVIEW = "preview"
# asset-check metadata
COVERAGE = "coverage"
ROWS_WITH_WRONG_DIMENSION = "rows_with_wrong_dimension"
EXPECTED_DIMENSION = "expected"
ROWS_WITH_NON_FINITE_VALUES = "rows_with_non_finite_values"
EMBEDDED = "embedded"
FAILED = "failed"
REJECTED = "rejected"

EXAMPLES = 5


def markdown_table(rows: pd.DataFrame, columns: list[str], *, limit: int = EXAMPLES) -> str:
    """Renders the first rows of a frame as a Markdown table ("none" when empty)."""
    if rows.empty:
        return "none"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows.head(limit)[columns].itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def table_schema(dimension: int) -> dg.TableSchema:
    """The columns of an embedding table."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                "id", "VARCHAR", description="the corpus row's id, as the source wrote it"
            ),
            dg.TableColumn("content_hash", "VARCHAR", description="what was embedded, hashed"),
            dg.TableColumn("embedding", f"FLOAT[{dimension}]", description="the vector"),
            dg.TableColumn("model", "VARCHAR"),
            dg.TableColumn("token_count", "INTEGER"),
            dg.TableColumn("embedded_at", "TIMESTAMPTZ"),
            dg.TableColumn(
                "truncated", "BOOLEAN", description="the model cut the text to its input limit"
            ),
        ]
    )


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


def spend_metadata(estimate: SpendEstimate) -> dict[str, Any]:
    """What a refresh is about to pay for, before its jobs are created (or why it was refused)."""
    entries: dict[str, Any] = {
        ESTIMATED_PROMPTS: dg.MetadataValue.int(estimate.prompts),
        ESTIMATED_CHARACTERS: dg.MetadataValue.int(estimate.characters),
        ESTIMATED_COST_USD: dg.MetadataValue.float(estimate.usd),  # small refreshes cost < $0.0001
        ESTIMATED_COST_BASIS: dg.MetadataValue.text(
            CostEstimate(estimate.usd, estimate.basis).describe()
        ),
    }
    if estimate.tokens is not None:
        entries[ESTIMATED_TOKENS] = dg.MetadataValue.int(estimate.tokens)
    return entries


def cost_metadata(cost: CostEstimate) -> dict[str, Any]:
    """The estimated cost, labelled as an estimate with the price source."""
    return {
        ESTIMATED_COST_USD: dg.MetadataValue.float(round(cost.usd, 4)),
        ESTIMATED_COST_BASIS: dg.MetadataValue.text(cost.describe()),
    }


def corpus_counts_metadata(
    *,
    rows: int,
    rejected_by_reason: dict[str, int],
    examples: pd.DataFrame,
    version: str,
    model: str,
    source: str,
) -> dict[str, Any]:
    """The corpus asset's metadata: row counts, rejections by reason and a few examples.

    `examples`: `row, id, reason` of a few rejected rows.
    """
    rejected = sum(rejected_by_reason.values())
    return {
        CORPUS_VERSION: version,
        ROW_COUNT: dg.MetadataValue.int(rows),
        ACCEPTED_ROWS: dg.MetadataValue.int(rows - rejected),
        REJECTED_ROWS: dg.MetadataValue.int(rejected),
        REJECTED_BY_REASON: dg.MetadataValue.json(rejected_by_reason),
        REJECTED_EXAMPLES: dg.MetadataValue.md(markdown_table(examples, ["row", "id", "reason"])),
        MODEL: model,
        SOURCE: source,
    }


def submission_metadata(submission: Submission, *, cost: CostEstimate) -> dict[str, Any]:
    """The batch-job asset's metadata: what a person looks for first, the full record last."""
    jobs_table = "\n".join(
        ["| shard | job | prompts | requests |", "|---|---|---|---|"]
        + [
            f"| {j.shard} | {f'[{j.name}]({j.url})' if j.url else f'`{j.name}`'}"
            f"{' (adopted)' if j.adopted else ''} | {j.prompts:,} | `{j.input_uri}` |"
            for j in submission.jobs
        ]
    )
    return {
        PROMPTS: dg.MetadataValue.int(submission.prompts),
        JOBS: dg.MetadataValue.int(len(submission.jobs)),
        JOB_NAMES: dg.MetadataValue.md(jobs_table if submission.jobs else "no job: nothing new"),
        **cost_metadata(cost),
        MANIFEST_URI: dg.MetadataValue.path(submission.manifest_uri),
        OUTPUT_URI: dg.MetadataValue.path(submission.output_uri),
        MODEL: dg.MetadataValue.text(submission.model),
        CHARACTERS: dg.MetadataValue.int(submission.characters),
        CORPUS_ROWS: dg.MetadataValue.int(submission.corpus_rows),
        REJECTED_ROWS: dg.MetadataValue.int(submission.rejected_rows),
        UNCHANGED_ROWS: dg.MetadataValue.int(submission.unchanged_rows),
        REUSED_ROWS: dg.MetadataValue.int(submission.reused_rows),
        STALE_ROWS: dg.MetadataValue.int(submission.stale_rows),
        ADOPTED_PROMPTS: dg.MetadataValue.int(submission.adopted_prompts),
        SUBMISSION_ID: dg.MetadataValue.text(submission.submission_id),
        SUBMISSION_RECORD: dg.MetadataValue.json(submission.to_json()),  # read back; shown last
    }


def landing_record(report: LandingReport, *, stats: StoreStats, dimension: int) -> dict[str, Any]:
    """What landing did and what the serving table holds, as JSON.

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
    submission: Submission,
    stats: StoreStats,
    table: str,
    dimension: int,
    cost: CostEstimate,
    preview: pd.DataFrame,
) -> dict[str, Any]:
    """The embeddings asset's metadata after landing a submission."""
    return {
        ROW_COUNT: dg.MetadataValue.int(stats.rows),
        TABLE_NAME: dg.MetadataValue.text(table),
        COLUMN_SCHEMA: dg.MetadataValue.table_schema(table_schema(dimension)),
        PREVIEW: dg.MetadataValue.md(preview_table(preview)),
        SUBMISSION_ID: dg.MetadataValue.text(submission.submission_id),
        LANDING_REPORT: dg.MetadataValue.json(
            landing_record(report, stats=stats, dimension=dimension)
        ),
        TABLE: dg.MetadataValue.text(table),
        MODEL: dg.MetadataValue.text(submission.model),
        SERVING_MODEL: dg.MetadataValue.text(_model(report.generations.serving) or "-"),
        BUILDING_MODEL: dg.MetadataValue.text(_model(report.generations.building) or "-"),
        GENERATION_SWITCHED: dg.MetadataValue.bool(report.switched),
        DIMENSION: dg.MetadataValue.int(dimension),
        EMBEDDED_ROWS: dg.MetadataValue.int(report.embedded_ids),
        WRITTEN_ROWS: dg.MetadataValue.int(report.written_rows),
        REUSED_ROWS: dg.MetadataValue.int(report.reused_rows),
        DELETED_ROWS: dg.MetadataValue.int(report.deleted_rows),
        FAILED_ROWS: dg.MetadataValue.int(report.failed_rows),
        REJECTED_ROWS: dg.MetadataValue.int(report.rejected_rows),
        FAILED_EXAMPLES: dg.MetadataValue.md(markdown_table(report.failures, ["id", "reason"])),
        PROMPTS: dg.MetadataValue.int(submission.prompts),
        CHARACTERS: dg.MetadataValue.int(submission.characters),
        TOKENS: dg.MetadataValue.int(report.tokens),
        **cost_metadata(cost),
        PREDICTION_FILES: dg.MetadataValue.int(report.prediction_files),
        JOB_STATES: dg.MetadataValue.json(report.job_states),
        DUPLICATE_JOBS: dg.MetadataValue.int(report.duplicate_jobs),
        SHORTENED_VECTORS: dg.MetadataValue.int(report.shortened_vectors),
        TRUNCATED_ROWS: dg.MetadataValue.int(stats.truncated),
    }


def progress_metadata(
    submission: Submission, states: Mapping[str, str], *, finished: int
) -> dict[str, Any]:
    """An observation of the batch-job asset: how many jobs finished, and in which states."""
    counts: dict[str, int] = {}
    for job in submission.jobs:
        state = states.get(job.name, "UNKNOWN")
        counts[state] = counts.get(state, 0) + 1
    return {
        SUBMISSION_ID: submission.submission_id,
        JOBS_FINISHED: dg.MetadataValue.int(finished),
        JOBS_TOTAL: dg.MetadataValue.int(len(submission.jobs)),
        JOBS_PAUSED: dg.MetadataValue.int(counts.get("PAUSED", 0)),
        JOB_STATES: dg.MetadataValue.json(dict(sorted(counts.items()))),
    }


# -- readers -------------------------------------------------------------------------------------


def _value(entry: Any) -> Any:
    """The plain value of a metadata entry (a `MetadataValue` or a raw value)."""
    return getattr(entry, "value", entry)


def _json(entry: Any) -> Any:
    """The data of a JSON metadata entry (also when it was stored as a JSON string)."""
    data = _value(entry)
    return orjson.loads(data) if isinstance(data, (str, bytes)) else data


def submission_from_metadata(metadata: Mapping[str, Any]) -> Submission | None:
    """Reads the submission record back (None when the metadata holds none)."""
    entry = metadata.get(SUBMISSION_RECORD)
    return None if entry is None else Submission.from_json(_json(entry))


def landing_from_metadata(metadata: Mapping[str, Any]) -> dict[str, Any] | None:
    """Reads the landing record back (None when the metadata holds none)."""
    entry = metadata.get(LANDING_REPORT)
    return None if entry is None else dict(_json(entry))


def read_landing(event: dg.EventLogEntry) -> dict[str, Any]:
    """Reads the landing record of one embeddings materialization event ({} if none)."""
    materialization = event.asset_materialization
    if materialization is None:
        return {}
    return landing_from_metadata(materialization.metadata) or {}


def _latest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey) -> Mapping[str, Any] | None:
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return None
    return event.asset_materialization.metadata


def latest_data_version(instance: dg.DagsterInstance, key: dg.AssetKey) -> str | None:
    """Returns the data version of an asset's latest materialization (None before any)."""
    event = instance.get_latest_materialization_event(key)
    materialization = event.asset_materialization if event is not None else None
    return (materialization.tags or {}).get(DATA_VERSION_TAG) if materialization else None


def latest_submission(instance: dg.DagsterInstance, job_asset: dg.AssetKey) -> Submission | None:
    """Returns the record of the latest materialization of the batch-job asset."""
    metadata = _latest_metadata(instance, job_asset)
    return None if metadata is None else submission_from_metadata(metadata)


def find_submission(
    instance: dg.DagsterInstance, job_asset: dg.AssetKey, submission_id: str, *, search: int = 50
) -> Submission | None:
    """Returns the record with this id among the latest `search` materializations."""
    for record in instance.fetch_materializations(job_asset, limit=search).records:
        materialization = record.asset_materialization
        if materialization is None:
            continue
        submission = submission_from_metadata(materialization.metadata)
        if submission is not None and submission.submission_id == submission_id:
            return submission
    return None


def landed_submission_id(instance: dg.DagsterInstance, embeddings: dg.AssetKey) -> str | None:
    """Returns the id of the submission the embeddings asset last landed."""
    metadata = _latest_metadata(instance, embeddings)
    entry = None if metadata is None else metadata.get(SUBMISSION_ID)
    return None if entry is None else str(_value(entry))


def latest_landing(instance: dg.DagsterInstance, embeddings: dg.AssetKey) -> dict[str, Any]:
    """Returns the landing record of the latest embeddings materialization ({} if none)."""
    metadata = _latest_metadata(instance, embeddings)
    return (landing_from_metadata(metadata) if metadata is not None else None) or {}
