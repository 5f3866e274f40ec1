"""Landing a warehouse-native submission: every step a SQL job in BigQuery.

The jobs' prediction tables are merged into the table (`store.bigquery_landing`), texts the
table already had are copied by hash, rows that left the corpus are deleted, and the rows that
failed are listed with their reasons. The process holds counts, and the failed rows only.
"""

from collections.abc import Callable, Sequence

import pandas as pd

from embed_assets.backends.base import JobStatus
from embed_assets.backends.vertex import VertexBatchBackend
from embed_assets.bigquery_client import query_frame, query_rows, run_query
from embed_assets.bigquery_staging import BigQueryStorage
from embed_assets.jobs.landing import LandingReport, check_finished
from embed_assets.jobs.plan import PLAN_REJECTED, PLAN_REUSE, PLAN_SUBMIT
from embed_assets.jobs.record import Submission
from embed_assets.models.catalog import vector_dimension
from embed_assets.store.bigquery import BigQueryEmbeddingStore
from embed_assets.store.bigquery_landing import land_prediction_table
from embed_assets.store.bigquery_tables import COPY_BY_HASH_SQL

MISSING = "no prediction was returned for this row"
NOT_LANDED_SQL = f"""
SELECT m.id, m.content_hash, m.shard FROM {{manifest}} m
WHERE m.plan = '{PLAN_SUBMIT}'
    AND NOT EXISTS (SELECT 1 FROM {{target}} t WHERE t.id = m.id AND t.content_hash = m.content_hash)
"""
DELETE_SQL = f"""
DELETE FROM {{target}} t WHERE NOT EXISTS (
    SELECT 1 FROM {{manifest}} m
    WHERE m.plan != '{PLAN_REJECTED}' AND m.id = t.id AND m.content_hash = t.content_hash)
"""
EMBEDDED_SQL = f"""
SELECT COUNT(*) FROM {{manifest}} m
WHERE m.plan != '{PLAN_REJECTED}'
    AND EXISTS (SELECT 1 FROM {{target}} t WHERE t.id = m.id AND t.content_hash = m.content_hash)
"""


def land_in_warehouse(
    *,
    submission: Submission,
    backend: VertexBatchBackend,
    store: BigQueryEmbeddingStore,
    statuses: Sequence[JobStatus],
    log: Callable[[str], None],
) -> LandingReport:
    """Lands every finished job of a warehouse-native submission, in BigQuery.

    Raises:
        SubmissionNotFinished: a job is not in a terminal state yet.
    """
    check_finished(submission, statuses)
    staging = backend.staging()
    assert isinstance(staging, BigQueryStorage)
    manifest = staging.table(submission.manifest_uri).sql
    report = LandingReport(
        submission_id=submission.submission_id,
        pipeline=submission.pipeline,
        corpus_rows=submission.corpus_rows,
        rejected_rows=submission.rejected_rows,
    )
    report.job_states = {s.name: s.state.value for s in statuses}
    wanted = f"SELECT id, content_hash FROM {manifest} WHERE plan = '{PLAN_SUBMIT}'"
    dimension = vector_dimension(submission.model, submission.output_dimensionality)
    failed: dict[str, str] = {}
    job_reasons: dict[int, str] = {}
    for job, status in zip(submission.jobs, statuses, strict=True):
        if not status.state.has_output:
            error = f": {status.error.message}" if status.error else ""
            job_reasons[job.shard] = f"job {status.name} ended {status.state.value}{error}"
            log(job_reasons[job.shard])
        # a failed, cancelled or expired job may still have written rows: they are paid for
        if not status.output_directory or not staging.exists(status.output_directory):
            continue
        landing = land_prediction_table(
            store,
            pipeline=submission.pipeline,
            predictions_uri=status.output_directory,
            wanted=wanted,
            model=submission.model,
            dimension=dimension,
            failures_only=True,
        )
        if landing is None:
            raise ValueError(f"{status.output_directory} has no `key` column to join on")
        failed.update(landing.outcomes)
        report.prediction_files += 1
        report.written_rows += landing.written
        report.tokens += landing.tokens
        log(f"landed {status.output_directory}: {report.written_rows} rows written so far")
    with store.write_target(submission.pipeline) as (client, target):
        reuse = f"(SELECT id, content_hash FROM {manifest} WHERE plan = '{PLAN_REUSE}')"
        copied = run_query(client, COPY_BY_HASH_SQL.format(target=target, incoming=reuse))
        report.reused_rows = int(copied.num_dml_affected_rows or 0)
        not_landed = query_frame(client, NOT_LANDED_SQL.format(manifest=manifest, target=target))
        deleted = run_query(client, DELETE_SQL.format(target=target, manifest=manifest))
        report.deleted_rows = int(deleted.num_dml_affected_rows or 0)
        ((embedded,),) = query_rows(client, EMBEDDED_SQL.format(manifest=manifest, target=target))
    reasons = [
        failed.get(str(h)) or job_reasons.get(int(shard)) or MISSING
        for h, shard in zip(not_landed["content_hash"], not_landed["shard"], strict=True)
    ]
    report.failures = pd.DataFrame(
        {
            "id": not_landed["id"].astype(object).to_numpy(),
            "content_hash": not_landed["content_hash"].astype(object).to_numpy(),
            "reason": pd.Series(reasons, dtype=object).to_numpy(),
        }
    )
    store.replace_failures(submission.pipeline, report.failures)
    store.record_consumed_jobs(submission.pipeline, [job.name for job in submission.jobs])
    report.embedded_ids = int(str(embedded))
    return report
