"""Planning in BigQuery: the diff, adoption, the manifest and prompts tables as SQL.

The warehouse's `PlanningRows`: the lifecycle (`jobs.handler`) asks the same questions as of
rows in this process, and each answer is a SQL job; the process reads counts back and no
corpus row passes through it.
"""

from collections.abc import Sequence
from typing import cast

from embed_assets.backends.base import BatchBackend, JobStatus
from embed_assets.bigquery.client import TableAddress, is_bigquery_uri, query_rows, run_query
from embed_assets.errors import ConfigError
from embed_assets.jobs.record import Submission
from embed_assets.jobs.rows import (
    PLAN_SUBMIT,
    AdoptableJob,
    Log,
    PlanCounts,
    Shard,
    ShardPlan,
    refuse_kind_switch,
    shard_ranges,
)
from embed_assets.jobs.settings import SubmissionSettings
from embed_assets.models.catalog import vector_dimension
from embed_assets.placements.bigquery.corpus import WarehouseCorpus
from embed_assets.placements.bigquery.sql import (
    ADOPTED_SQL,
    HELD_SQL,
    MANIFEST_SQL,
    NOTHING_ADOPTED_SQL,
    PLAN_COUNTS_SQL,
    PLAN_SQL,
    POSITIONS,
    PROMPTS_SQL,
    SHARD_COUNTS_SQL,
)
from embed_assets.staging.base import TableStorage
from embed_assets.store.base import EmbeddingStore, Warehouse

COUNT_NAMES = (
    "corpus_rows",
    "rejected",
    "unchanged",
    "reuse",
    "stored",
    "deleted",
    "prompts",
    "stored_chunks",
    "planned_chunks",
)


def table_staging(backend: BatchBackend) -> TableStorage:
    """The backend's staging, which must hold tables for rows to stay in the warehouse."""
    staging = backend.staging()
    if not staging.holds_tables:
        raise ConfigError(
            f"staging {staging.root} holds files: the warehouse-native path needs a bq:// "
            "staging dataset"
        )
    return cast(TableStorage, staging)


class WarehousePlanning:
    """A corpus staged in BigQuery (`WarehouseCorpus`), planned against the table there."""

    request_extension = ""  # requests are prompts tables
    manifest_name = "manifest"

    def __init__(
        self,
        corpus: WarehouseCorpus,
        *,
        backend: BatchBackend,
        store: EmbeddingStore,
        warehouse: Warehouse,
        settings: SubmissionSettings,
    ) -> None:
        self.corpus, self.backend, self.store = corpus, backend, store
        self.warehouse, self.settings = warehouse, settings
        self.staging = table_staging(backend)
        self.plan: TableAddress = self.staging.table(
            self.staging.join(settings.pipeline, "planning")
        )
        self._stored = ""
        self._prompts = 0
        self._manifest: TableAddress | None = None

    def diff(self) -> PlanCounts:
        """Writes the planning table (every corpus row with its plan) and counts it."""
        with self.warehouse.write_target(self.settings.pipeline) as (_, stored):
            self._stored = stored  # the table exists from here on, so the plan can join it
        corpus_sql = self.staging.table(self.corpus.table).sql
        run_query(
            self.staging.client,
            PLAN_SQL.format(target=self.plan.sql, corpus=corpus_sql, stored=self._stored),
        )
        (row,) = query_rows(
            self.staging.client, PLAN_COUNTS_SQL.format(plan=self.plan.sql, stored=self._stored)
        )
        counts = {name: int(str(value or 0)) for name, value in zip(COUNT_NAMES, row, strict=False)}
        if counts["stored"]:
            refuse_kind_switch(
                held_chunks=counts["stored_chunks"] > 0,
                makes_chunks=counts["planned_chunks"] > 0,
                pipeline=self.settings.pipeline,
            )
        self._prompts = counts["prompts"]
        return PlanCounts(
            corpus_rows=counts["corpus_rows"],
            rejected=counts["rejected"],
            unchanged=counts["unchanged"],
            reused=counts["reuse"],
            stored=counts["stored"],
            deleted=counts["deleted"],
            prompts=counts["prompts"],
            prompts_digest=int(str(row[-1] or 0)),
            rejected_by_reason=dict(self.corpus.rejected_by_reason),
            documents=self.corpus.documents,
        )

    def held_by(self, job: JobStatus, *, log: Log) -> AdoptableJob | None:
        """Counts the needed texts in the job's prompts table (overlaps are settled by `deal`)."""
        if not is_bigquery_uri(job.input_uri) or not self.staging.exists(job.input_uri):
            return None
        prompts = self.staging.table(job.input_uri).sql
        ((count,),) = query_rows(
            self.staging.client, HELD_SQL.format(prompts=prompts, plan=self.plan.sql)
        )
        held = int(str(count))
        return AdoptableJob(job=job, texts=held, prompts=held, characters=0) if held else None

    def land_paid(self, jobs: Sequence[JobStatus], *, log: Log) -> int:
        """Merges each job's prediction table into the table for the rows planned to submit."""
        wanted = (
            f"SELECT id, content_hash, {POSITIONS} FROM {self.plan.sql} "
            f"WHERE plan = '{PLAN_SUBMIT}'"
        )
        dimension = vector_dimension(self.settings.model, self.settings.output_dimensionality)
        written = 0
        for job in jobs:
            landing = None
            if job.output_directory and self.staging.exists(job.output_directory):
                landing = self.warehouse.land_prediction_table(
                    pipeline=self.settings.pipeline,
                    predictions_uri=job.output_directory,
                    wanted=wanted,
                    model=self.settings.model,
                    dimension=dimension,
                    failures_only=True,
                )
            rows = landing.written if landing else 0
            written += rows
            log(f"landed {rows} rows that {job.name} ({job.state.value}) already paid for")
        return written

    def deal(
        self, *, submission: Submission, adopted: Sequence[AdoptableJob], limit: int
    ) -> ShardPlan:
        """Writes the manifest table and returns the shards' counts.

        Adopted jobs' texts keep their shard; the rest are dealt into balanced shards in hash
        order.
        """
        # jobs may overlap, so this may be low: shards then come out smaller, never above limit
        fresh = max(self._prompts - sum(held.texts for held in adopted), 0)
        ranges = list(shard_ranges(fresh, limit))
        size = ranges[0][1] - ranges[0][0] if ranges else 1
        adopted_sql = " UNION ALL ".join(
            ADOPTED_SQL.format(shard=index, prompts=self.staging.table(held.job.input_uri).sql)
            for index, held in enumerate(adopted)
        )
        self._manifest = manifest = self.staging.table(submission.manifest_uri)
        client = self.staging.client
        run_query(
            client,
            MANIFEST_SQL.format(
                target=manifest.sql,
                plan=self.plan.sql,
                adopted=f"SELECT content_hash, MIN(shard) AS shard FROM ({adopted_sql}) GROUP BY 1"
                if adopted_sql
                else NOTHING_ADOPTED_SQL,
            ),
            {"first": len(adopted), "size": size},
        )
        client.delete_table(self.plan.qualified, not_found_ok=True)
        shards = [
            Shard(int(str(shard)), int(str(prompts)), int(str(characters or 0)))
            for shard, prompts, characters in query_rows(
                client, SHARD_COUNTS_SQL.format(manifest=manifest.sql)
            )
            if int(str(shard)) >= 0
        ]
        first = len(adopted)  # shards 0..first-1 are the adopted jobs, counted without overlaps
        counted = {shard.shard: shard for shard in shards}
        return ShardPlan(
            adopted=[counted.get(index, Shard(index, 0, 0)) for index in range(first)],
            fresh=[shard for shard in shards if shard.shard >= first],
            adopted_texts=sum(shard.prompts for shard in shards if shard.shard < first),
        )

    def stage(self, *, submission: Submission, shard: int, input_uri: str) -> None:
        """Writes one shard's prompts table from the manifest, with SQL."""
        manifest = self.staging.table(submission.manifest_uri)
        run_query(
            self.staging.client,
            PROMPTS_SQL.format(target=self.staging.table(input_uri).sql, manifest=manifest.sql),
            {"task_type": submission.task_type, "shard": shard},
        )
