"""`SubmissionHandler`: one submission's life, plan → submit or re-attach → poll → cancel → land.

The batch-job asset, the sensor, the embeddings asset and the CLI all go through this one
object (as dagster-dbt's run handler does for a dbt Cloud run), so the steps cannot drift apart.
"""

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import dagster as dg
import pandas as pd

from embed_assets.backends.base import BatchBackend, JobStatus
from embed_assets.backends.vertex import VertexBatchBackend
from embed_assets.jobs.adopt import AdoptedJob, adopt_paid_jobs
from embed_assets.jobs.cancel import cancel_unfinished_jobs
from embed_assets.jobs.guard import RefreshLimits, check_refresh
from embed_assets.jobs.landing import (
    EmbeddingTarget,
    LandingReport,
    land_finished_jobs,
    land_submission,
)
from embed_assets.jobs.plan import (
    PLAN_REJECTED,
    PLAN_REUSE,
    PLAN_SUBMIT,
    PLAN_UNCHANGED,
    Plan,
    plan_refresh,
    shard_prompts,
    submission_id_for,
)
from embed_assets.jobs.polling import PollResult, poll_jobs
from embed_assets.jobs.record import Submission
from embed_assets.jobs.retention import discard_staged_files
from embed_assets.jobs.submit import submit_plan
from embed_assets.models.catalog import model_spec, vector_dimension
from embed_assets.store.base import EmbeddingStore, TableIdentity, same_vectors
from embed_assets.store.bigquery import BigQueryEmbeddingStore
from embed_assets.warehouse.land import land_in_warehouse

Log = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class SubmissionSettings:
    """What a pipeline asks of every submission.

    Attributes:
        pipeline: the pipeline's name.
        model: the embedding model.
        task_type: sent with every prompt.
        output_dimensionality: requested vector length (None: the model's own).
        auto_truncate: let the model cut long inputs.
        max_prompts_per_job: prompts per job (None: the backend's per-job limit).
        keep_staging: keep request and prediction files after landing (for debugging).
    """

    pipeline: str
    model: str
    task_type: str | None
    output_dimensionality: int | None
    auto_truncate: bool = True
    max_prompts_per_job: int | None = None
    keep_staging: bool = False

    @property
    def identity(self) -> TableIdentity:
        """What the pipeline's table holds under these settings."""
        return table_identity(self)


def table_identity(target: EmbeddingTarget) -> TableIdentity:
    """What a table holds when written with a submission's (or the settings') vectors."""
    return TableIdentity(
        pipeline=target.pipeline,
        model=target.model,
        dimension=vector_dimension(target.model, target.output_dimensionality),
        task_type=target.task_type,
    )


class SubmissionHandler:
    """Drives one submission of one pipeline on one backend.

    Args:
        backend: where the jobs run.
        submission: the submission record (without jobs until `submit` ran).
        plan: the plan behind a submission that is still to be submitted (from `plan`).
        settings: the settings it was planned with (from `plan`).
        adopted: earlier jobs this submission waits for and lands (from `plan`).
    """

    def __init__(
        self,
        *,
        backend: BatchBackend,
        submission: Submission,
        plan: Plan | None = None,
        settings: SubmissionSettings | None = None,
        adopted: Sequence[AdoptedJob] = (),
    ) -> None:
        self.backend = backend
        self.submission = submission
        self._plan = plan
        self._settings = settings
        self._adopted = tuple(adopted)

    @classmethod
    def plan(
        cls,
        *,
        backend: BatchBackend,
        store: EmbeddingStore,
        corpus: pd.DataFrame,
        settings: SubmissionSettings,
        run_id: str,
        limits: RefreshLimits | None = None,
        log: Log = lambda line: None,
    ) -> "SubmissionHandler":
        """Diffs the corpus against the store and records what a submission would submit.

        Before anything new is submitted, the jobs earlier (interrupted) submissions already
        paid for are adopted: the texts they hold are waited for, not submitted again.

        Args:
            backend: where the jobs will run.
            store: the embedding table.
            corpus: the prepared corpus (`id, content, title, content_hash, reason`).
            settings: what the pipeline asks of every submission.
            run_id: the Dagster run (its root run, on a retry); a retry reproduces the id.
            limits: how much the refresh may reject and delete (default: `RefreshLimits()`).
            log: where one line per adopted or abandoned earlier job goes.

        Raises:
            ValueError: the backend cannot run the model (the message names the field).
            UnsafeRefresh: the refresh would lose data (see `check_refresh`).
            TableOwnedError: another pipeline owns the table this one maps to.
        """
        backend.validate_model(
            model=settings.model, output_dimensionality=settings.output_dimensionality
        )
        generations = store.claim(settings.identity)
        if generations.building is not None and generations.serving is not None:
            log(
                f"the table holds {generations.serving.describe()} vectors; this refresh builds "
                f"a new generation of {generations.building.describe()} vectors beside it, and "
                "the table keeps serving the old ones until the new generation reaches the "
                "pipeline's min_coverage"
            )
        plan = plan_refresh(corpus, store.current_hashes(settings.pipeline))
        check_refresh(plan, limits or RefreshLimits(), pipeline=settings.pipeline)
        submission_id = submission_id_for(settings.pipeline, run_id, plan.prompts)
        plan, adopted, landed_rows = _use_paid_jobs(
            plan,
            backend=backend,
            store=store,
            corpus=corpus,
            settings=settings,
            submission_id=submission_id,
            log=log,
        )
        in_flight = set().union(*(job.hashes for job in adopted))
        staging = backend.staging()
        counts = plan.manifest["plan"].value_counts()
        rejected = corpus.loc[corpus["reason"].notna(), "reason"].value_counts()
        submission = Submission(
            submission_id=submission_id,
            pipeline=settings.pipeline,
            model=settings.model,
            task_type=settings.task_type,
            output_dimensionality=settings.output_dimensionality,
            manifest_uri=staging.join(settings.pipeline, submission_id, "manifest.parquet"),
            output_uri=staging.join(settings.pipeline, submission_id, "output"),
            jobs=(),
            corpus_rows=len(corpus),
            accepted_rows=int(corpus["reason"].isna().sum()),
            rejected_rows=int(counts.get(PLAN_REJECTED, 0)),
            prompts=len(plan.prompts),
            characters=int(plan.prompts["content"].str.len().sum()) if len(plan.prompts) else 0,
            unchanged_rows=int(counts.get(PLAN_UNCHANGED, 0)),
            reused_rows=int(counts.get(PLAN_REUSE, 0)),
            stale_rows=plan.stale_rows,
            rejected_by_reason={str(k): int(v) for k, v in rejected.items()},
            adopted_prompts=len(in_flight),
            rows_landed_while_planning=landed_rows,
        )
        return cls(
            backend=backend, submission=submission, plan=plan, settings=settings, adopted=adopted
        )

    def submit(self, *, log: Log) -> Submission:
        """Writes the manifest and request shards and creates (or re-attaches to) the jobs.

        A submission that changes nothing creates no job. Returns the record with its jobs.

        Raises:
            BackendError: the service refused or did not answer; a retry re-attaches.
        """
        plan, settings = self._plan, self._settings
        if plan is None or settings is None:
            raise RuntimeError(f"submission {self.submission.submission_id} was not planned here")
        if not (self.submission.needs_landing or len(plan.prompts) or self._adopted):
            return self.submission
        spec = model_spec(settings.model)
        limit = settings.max_prompts_per_job or self.backend.max_prompts_per_job(settings.model)
        jobs = submit_plan(
            backend=self.backend,
            plan=plan,
            submission=self.submission,
            spec=spec,
            shards=shard_prompts(plan.prompts, spec, limit),
            auto_truncate=settings.auto_truncate,
            log=log,
            adopted=self._adopted,
        )
        self.submission = dataclasses.replace(self.submission, jobs=jobs)
        return self.submission

    def poll(
        self,
        *,
        states: Mapping[str, str],
        resume_at: int = 0,
        deadline: float,
        log: logging.Logger | dg.DagsterLogManager | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> PollResult:
        """Polls the unfinished jobs once each, until `deadline` (see `poll_jobs`)."""
        return poll_jobs(
            backend=self.backend,
            jobs=self.submission.jobs,
            states=states,
            resume_at=resume_at,
            deadline=deadline,
            log=log,
            clock=clock,
        )

    def statuses(self) -> list[JobStatus]:
        """Returns the current status of every job."""
        return [self.backend.get(job.name) for job in self.submission.jobs]

    def cancel_unfinished(self, *, log: Log) -> list[JobStatus]:
        """Cancels every job that has not finished; returns those a cancel was sent for."""
        return cancel_unfinished_jobs(backend=self.backend, submission=self.submission, log=log)

    def land(
        self,
        *,
        store: EmbeddingStore,
        min_coverage: float,
        log: Log,
        keep_staging: bool = False,
    ) -> LandingReport:
        """Lands every finished job into the store (see `land_submission`).

        Then the jobs' request and prediction files are deleted, unless `keep_staging`. When
        the submission built a new generation of the table (another model, dimension or task
        type) and it now covers `min_coverage` of the accepted rows, it replaces the old one.

        Raises:
            SubmissionNotFinished: a job has not finished yet.
            SubmissionSuperseded: the table holds other vectors than the submission made.
            BackendError: the service could not be read.
        """
        submission = self.submission
        written = store.generations(submission.pipeline).written
        made = table_identity(submission)
        if written is not None and not same_vectors(written, made):
            raise SubmissionSuperseded(
                f"submission {submission.submission_id} made {made.describe()} vectors, but "
                f"the table now takes {written.describe()} vectors (the pipeline changed since): "
                "its output is not landed. Materialize the batch job to refresh with the "
                "current settings."
            )
        statuses = self.statuses()  # read once: for landing, then for the files to delete
        if submission.warehouse:  # planned in BigQuery: landed there too
            assert isinstance(self.backend, VertexBatchBackend)
            assert isinstance(store, BigQueryEmbeddingStore)
            report = land_in_warehouse(
                submission=submission, backend=self.backend, store=store, statuses=statuses, log=log
            )
        else:
            report = land_submission(
                submission=submission,
                backend=self.backend,
                store=store,
                log=log,
                statuses=statuses,
            )
        if not keep_staging:
            discard_staged_files(
                backend=self.backend,
                jobs=statuses,
                folders=[self.submission.output_uri],
                log=log,
            )
        _switch_when_covered(store, report, min_coverage=min_coverage, log=log)
        return report


class SubmissionSuperseded(RuntimeError):
    """The table now holds other vectors than the submission made: its output is not landed."""


def _switch_when_covered(
    store: EmbeddingStore, report: LandingReport, *, min_coverage: float, log: Log
) -> None:
    """Makes a generation being built the live one once it covers `min_coverage`."""
    generations = store.generations(report.pipeline)
    building = generations.building
    if building is None:
        report.generations = generations
        return
    old = generations.serving.describe() if generations.serving else "no"
    if report.coverage >= min_coverage:
        store.switch_generation(report.pipeline)
        report.generations = store.generations(report.pipeline)
        report.switched = True
        log(
            f"the new generation ({building.describe()}) covers {report.coverage:.1%} of the "
            f"accepted rows: it replaced the old one ({old}) and serves now"
        )
        return
    report.generations = generations
    log(
        f"the new generation ({building.describe()}) covers {report.coverage:.1%} of the "
        f"accepted rows, below min_coverage {min_coverage:.1%}: the table keeps serving the old "
        f"one ({old}); the next refresh retries the failed rows"
    )


def _use_paid_jobs(
    plan: Plan,
    *,
    backend: BatchBackend,
    store: EmbeddingStore,
    corpus: pd.DataFrame,
    settings: SubmissionSettings,
    submission_id: str,
    log: Log,
) -> tuple[Plan, list[AdoptedJob], int]:
    """Lands what finished earlier jobs wrote and leaves out the texts unfinished ones hold.

    Returns the plan of what is left to submit, the unfinished jobs to wait for, and the rows
    written from the finished ones.
    """
    paid = adopt_paid_jobs(
        backend=backend,
        store=store,
        pipeline=settings.pipeline,
        model=settings.model,
        output_dimensionality=settings.output_dimensionality,
        needed=set(plan.prompts["content_hash"]),
        submission_id=submission_id,
        log=log,
    )
    landed = 0
    if paid.finished:  # land what they wrote, then diff again: those rows are now stored
        manifest = plan.manifest
        landed = land_finished_jobs(
            jobs=paid.finished,
            backend=backend,
            store=store,
            target=settings,
            submitted=manifest.loc[manifest["plan"] == PLAN_SUBMIT, ["id", "content_hash"]],
            log=log,
        )
        plan = plan_refresh(corpus, store.current_hashes(settings.pipeline))
    if not settings.keep_staging:  # landed or of no use: their request and output files go
        discard_staged_files(backend=backend, jobs=[*paid.finished, *paid.given_up], log=log)
    in_flight = set().union(*(job.hashes for job in paid.unfinished))
    if in_flight:  # those texts are paid for: only the rest is submitted
        fresh = plan.prompts[~plan.prompts["content_hash"].isin(in_flight)]
        plan = dataclasses.replace(plan, prompts=fresh.reset_index(drop=True))
    return plan, paid.unfinished, landed
