"""Landing in BigQuery: the warehouse's `LandingRows`, every step a SQL job.

The jobs' prediction tables are merged into the table (`store.base.Warehouse`), texts the
table already had are copied by hash, rows that left the corpus are deleted, and the rows that
failed are listed with their reasons. The process holds counts, and the failed rows only.
"""

from collections.abc import Iterator
from functools import cached_property

import pandas as pd
from google.api_core.exceptions import NotFound

from embed_assets.backends.base import BatchBackend, JobStatus
from embed_assets.bigquery.client import query_frame, query_rows, run_query
from embed_assets.errors import PredictionError
from embed_assets.jobs.record import Submission
from embed_assets.jobs.rows import PLAN_REJECTED, PLAN_REUSE, PLAN_SUBMIT, Log, TableAfterLanding
from embed_assets.models.catalog import vector_dimension
from embed_assets.placements.bigquery.planning import table_staging
from embed_assets.placements.bigquery.sql import NO_POSITIONS, POSITIONS
from embed_assets.store.base import Warehouse

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


class WarehouseLanding:
    """A warehouse-native submission: its manifest is a table beside its prediction tables."""

    def __init__(
        self, submission: Submission, *, backend: BatchBackend, warehouse: Warehouse
    ) -> None:
        self.submission, self.warehouse, self.backend = submission, warehouse, backend
        self.staging = table_staging(backend)
        self.manifest = self.staging.table(submission.manifest_uri).sql
        self.failed: dict[str, str] = {}
        self.job_reasons: dict[int, str] = {}

    @cached_property
    def positions(self) -> str:
        """The manifest's position columns (NULLs for one written before chunk rows existed)."""
        table = self.staging.table(self.submission.manifest_uri)
        try:
            columns = {
                field.name for field in self.staging.client.get_table(table.qualified).schema
            }
        except NotFound:
            return NO_POSITIONS
        return POSITIONS if "chunk_start" in columns else NO_POSITIONS

    def reuse_stored(self) -> int:
        """Copies the stored vector of each reused row's text to its id, in one statement."""
        reuse = (
            f"(SELECT id, content_hash, {self.positions} FROM {self.manifest} "
            f"WHERE plan = '{PLAN_REUSE}')"
        )
        return self.warehouse.copy_by_hash_from(self.submission.pipeline, reuse)

    def land_output(
        self, job: JobStatus, *, job_failed: str | None
    ) -> Iterator[tuple[str, int, int]]:
        """Merges the job's prediction table, if it wrote one."""
        shard = next(j.shard for j in self.submission.jobs if j.name == job.name)
        if job_failed is not None:
            self.job_reasons[shard] = job_failed
        submission = self.submission
        for uri in self.backend.output_files(job):  # the prediction table, then any errors table
            landing = self.warehouse.land_prediction_table(
                pipeline=submission.pipeline,
                predictions_uri=uri,
                wanted=f"SELECT id, content_hash, {self.positions} FROM {self.manifest} "
                f"WHERE plan = '{PLAN_SUBMIT}'",
                model=submission.model,
                dimension=vector_dimension(submission.model, submission.output_dimensionality),
                failures_only=True,
            )
            if landing is None:
                raise PredictionError(f"{uri} has no `key` column to join on")
            for content_hash, reason in landing.outcomes:
                self.failed.setdefault(content_hash, reason)
            yield uri, landing.written, landing.tokens

    def settle(self, *, log: Log) -> TableAfterLanding:
        """Lists what did not land, deletes what left, counts what is in."""
        pipeline, manifest = self.submission.pipeline, self.manifest
        with self.warehouse.write_target(pipeline) as (client, target):
            not_landed = query_frame(
                client, NOT_LANDED_SQL.format(manifest=manifest, target=target)
            )
            deleted = run_query(client, DELETE_SQL.format(target=target, manifest=manifest))
            ((embedded,),) = query_rows(
                client, EMBEDDED_SQL.format(manifest=manifest, target=target)
            )
        reasons = [
            self.failed.get(str(h)) or self.job_reasons.get(int(shard)) or MISSING
            for h, shard in zip(not_landed["content_hash"], not_landed["shard"], strict=True)
        ]
        return TableAfterLanding(
            corpus_rows=self.submission.corpus_rows,
            rejected_rows=self.submission.rejected_rows,
            deleted_rows=int(deleted.num_dml_affected_rows or 0),
            embedded_ids=int(str(embedded)),
            failures=pd.DataFrame(
                {
                    "id": not_landed["id"].astype(object).to_numpy(),
                    "content_hash": not_landed["content_hash"].astype(object).to_numpy(),
                    "reason": pd.Series(reasons, dtype=object).to_numpy(),
                }
            ),
        )
