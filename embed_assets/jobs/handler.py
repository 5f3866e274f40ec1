"""`SubmissionHandler`: one submission's life, plan → adopt → submit or re-attach → poll → cancel → land.

The batch-job asset, the sensor, the embeddings asset and the CLI all go through this one
object (as dagster-dbt's run handler does for a dbt Cloud run), and every step is written
once: where the rows live (this process or the warehouse) is a `RowPlacement` the pipeline
chose when it bound its backend and store, so the steps cannot drift apart.
"""

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple, Never, cast

import dagster as dg

from embed_assets.backends.base import BatchBackend, JobStatus
from embed_assets.errors import (
    BackendError,
    JobNotFound,
    RefreshRefused,
    SubmissionError,
    SubmissionSuperseded,
)
from embed_assets.jobs.adopt import adopt_paid_jobs
from embed_assets.jobs.guard import (
    RefreshLimits,
    SpendEstimate,
    check_plan_counts,
    check_spend,
)
from embed_assets.jobs.landing import (
    LandingReport,
    check_finished,
    discard_staged_files,
    land_submission,
    switch_when_covered,
)
from embed_assets.jobs.polling import PollResult, cancel_paused, cancel_unfinished_jobs, poll_jobs
from embed_assets.jobs.record import Submission, SubmittedJob, label_value
from embed_assets.jobs.rows import (
    AdoptableJob,
    CorpusT,
    PlanCounts,
    PlanningRows,
    RowPlacement,
    ShardPlan,
    planned_submission,
)
from embed_assets.jobs.settings import SubmissionSettings, table_identity
from embed_assets.jobs.submit import cancel_duplicates, shard_output_prefix, submit_shards
from embed_assets.placements.process.placement import InProcessPlacement
from embed_assets.staging.base import Storage
from embed_assets.store.base import EmbeddingStore, same_vectors

Log = Callable[[str], None]
NOTHING_DEALT = ShardPlan(adopted=[], fresh=[], adopted_texts=0)


class _Planned(NamedTuple):
    """What `SubmissionHandler.plan` found, for its `submit`."""

    rows: PlanningRows
    dealt: ShardPlan
    settings: SubmissionSettings
    adopted: tuple[AdoptableJob, ...]


def submission_id_for(pipeline: str, run_id: str, counts: PlanCounts) -> str:
    """Derives a submission id that a retry of the same run (the same texts) reproduces."""
    digest = hashlib.sha256(f"{run_id}|{counts.prompts}|{counts.prompts_digest}".encode())
    return f"{label_value(pipeline)[:30]}-{digest.hexdigest()[:16]}"


class SubmissionHandler:
    """Drives one submission of one pipeline on one backend.

    A handler made here drives a recorded submission (poll, land, cancel); one that `plan`
    made can also `submit` what it planned.

    Args:
        backend: where the jobs run.
        submission: the submission record (without jobs until `submit` ran).
        placement: where the pipeline's rows live (default: in this process).
    """

    def __init__(
        self,
        *,
        backend: BatchBackend,
        submission: Submission,
        placement: RowPlacement[Never] | None = None,
    ) -> None:
        self.backend = backend
        self.submission = submission
        # it lands, and plans nothing: any placement, whatever corpus it plans from
        self.placement: RowPlacement[Never] = placement or InProcessPlacement()
        self._planned: _Planned | None = None  # what `plan` left for `submit`

    @classmethod
    def plan(
        cls,
        *,
        backend: BatchBackend,
        store: EmbeddingStore,
        corpus: CorpusT,
        settings: SubmissionSettings,
        run_id: str,
        limits: RefreshLimits | None = None,
        log: Log = lambda line: None,
        placement: RowPlacement[CorpusT] | None = None,
    ) -> "SubmissionHandler":
        """Diffs the corpus against the store and records what a submission would submit.

        Before anything new is submitted, the jobs earlier (interrupted) submissions already
        paid for are adopted: the texts they hold are waited for, not submitted again.

        Args:
            backend: where the jobs will run.
            store: the embedding table.
            corpus: what `placement` plans from: a `PreparedCorpus` (or a frame of its rows)
                in this process, a `WarehouseCorpus` in the warehouse.
            settings: what the pipeline asks of every submission.
            run_id: the Dagster run (its root run, on a retry); a retry reproduces the id.
            limits: how much the refresh may reject and delete (default: `RefreshLimits()`).
            log: where one line per adopted or abandoned earlier job goes.
            placement: where the rows live (default: in this process).

        Raises:
            ConfigError: the backend cannot run the model (the message names the field).
            RefreshRefused: the refresh would lose data (see `check_refresh_counts`).
            TableOwnedError: another pipeline owns the table this one maps to.
        """
        if placement is None:  # then the corpus is a prepared file (or a frame of its rows)
            placement = cast(RowPlacement[CorpusT], InProcessPlacement())
        pipeline = settings.pipeline
        backend.validate_model(
            model=settings.model, output_dimensionality=settings.output_dimensionality
        )
        _claim(store, settings, log=log)
        rows = placement.planning(corpus=corpus, backend=backend, store=store, settings=settings)
        counts = rows.diff()
        limits = limits or RefreshLimits()
        check_plan_counts(counts, limits, pipeline=pipeline)
        submission_id = submission_id_for(pipeline, run_id, counts)
        unfinished, landed_rows = _use_paid_jobs(backend, store, rows, settings, submission_id, log)
        if landed_rows:  # those rows are stored now: diff again
            counts = rows.diff()
        staging = backend.staging()
        submission = planned_submission(
            submission_id,
            settings=settings,
            counts=counts,
            manifest_uri=staging.join(pipeline, submission_id, rows.manifest_name),
            output_uri=staging.join(pipeline, submission_id, "output"),
            landed_rows=landed_rows,
            warehouse=placement.warehouse,
        )
        dealt = NOTHING_DEALT
        if submission.needs_landing or counts.prompts or unfinished:  # else: nothing to do
            limit = settings.max_prompts_per_job or backend.max_prompts_per_job(settings.model)
            dealt = rows.deal(submission=submission, adopted=unfinished, limit=limit)
        _check_spend(
            dealt, settings, limits, staging=staging, manifest=submission.manifest_uri, log=log
        )
        handler = cls(
            backend=backend,
            submission=dataclasses.replace(
                submission,
                prompts=dealt.prompts,
                characters=dealt.characters,
                tokens=dealt.tokens or 0,
                adopted_prompts=dealt.adopted_texts,
            ),
            placement=placement,
        )
        handler._planned = _Planned(rows, dealt, settings, tuple(unfinished))
        return handler

    def submit(self, *, log: Log) -> Submission:
        """Writes the request shards and creates (or re-attaches to) the jobs.

        A submission that changes nothing creates no job. Returns the record with its jobs.

        Raises:
            BackendError: the service refused or did not answer; a retry re-attaches.
        """
        if self._planned is None:
            raise SubmissionError(
                f"submission {self.submission.submission_id} was not planned here"
            )
        rows, dealt, settings, adopted = self._planned
        submission = self.submission
        if not (submission.needs_landing or dealt.fresh or adopted):
            return submission
        jobs = [
            SubmittedJob(
                shard=shard.shard,
                name=held.job.name,
                display_name=held.job.display_name,
                input_uri=held.job.input_uri,
                prompts=shard.prompts,
                characters=shard.characters,
                url=self.backend.console_url(held.job),
                adopted=True,
            )
            for held, shard in zip(adopted, dealt.adopted, strict=True)
        ]
        jobs += submit_shards(
            backend=self.backend,
            submission=submission,
            shards=dealt.fresh,
            extension=rows.request_extension,
            stage=lambda shard, uri: rows.stage(submission=submission, shard=shard, input_uri=uri),
            auto_truncate=settings.auto_truncate,
            log=log,
        )
        self.submission = dataclasses.replace(submission, jobs=tuple(jobs))
        if dealt.fresh:  # a create whose answer was lost may have made a second job
            cancel_duplicates(backend=self.backend, submission=self.submission, log=log)
        return self.submission

    def poll(
        self,
        *,
        states: Mapping[str, str],
        resume_at: int = 0,
        deadline: float,
        log: logging.Logger | dg.DagsterLogManager | None = None,
        clock: Callable[[], float] = time.monotonic,
        done: Mapping[str, int] | None = None,
    ) -> PollResult:
        """Polls the unfinished jobs once each, until `deadline` (see `poll_jobs`).

        While jobs run, a second job of a shard (a create whose answer was lost, made by the
        service after the client created again) is looked for and cancelled before it runs.
        """
        result = poll_jobs(
            backend=self.backend,
            jobs=self.submission.jobs,
            states=states,
            resume_at=resume_at,
            deadline=deadline,
            log=log,
            clock=clock,
            done_before=done,
        )
        if not result.unreachable and result.finished(self.submission.jobs) < len(
            self.submission.jobs
        ):
            try:
                cancel_duplicates(
                    backend=self.backend, submission=self.submission, log=result.changes.append
                )
            except BackendError as error:  # looked for again next round, and when landing
                if log:
                    log.warning(f"could not look for duplicate jobs: {error}")
        return result

    def statuses(self) -> list[JobStatus]:
        """Returns the current status of every job (GONE for one the service no longer has)."""
        return [self._status(job) for job in self.submission.jobs]

    def _stopped_if_paused(self, status: JobStatus, *, log: Log) -> JobStatus:
        """A paused job cancelled, so it bills no more; it lands as it is, paused or cancelled."""
        after = cancel_paused(self.backend, status, log=log)
        return after if after.is_terminal else status

    def _status(self, job: SubmittedJob) -> JobStatus:
        try:
            return self.backend.get(job.name)
        except JobNotFound:  # deleted: what it wrote before is where its shard's output goes
            return JobStatus.gone(job.name, output_uri_prefix=shard_output_prefix(job.input_uri))

    def wrote_output(self) -> bool:
        """Tells whether any job wrote a prediction file or table (stopped jobs included)."""
        return any(self.backend.output_files(status) for status in self.statuses())

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
        if submission.warehouse != self.placement.warehouse:
            where = "in the warehouse" if submission.warehouse else "in this process"
            raise SubmissionError(
                f"submission {submission.submission_id} was planned {where}, but the pipeline "
                "now binds a backend and store that keep its rows elsewhere: materialize the "
                "batch job to refresh with the current resources"
            )
        statuses = [  # read once: for landing, then for the files to delete
            self._stopped_if_paused(status, log=log) for status in self.statuses()
        ]
        check_finished(submission, statuses)
        duplicates = cancel_duplicates(backend=self.backend, submission=submission, log=log)
        if duplicates:
            log(
                f"{len(duplicates)} duplicate job(s) of this submission (lost create answers) "
                f"are not landed: {', '.join(f'{j.name} {j.state.value}' for j in duplicates)}"
            )
        rows = self.placement.landing(submission=submission, backend=self.backend, store=store)
        report = land_submission(
            submission=submission, rows=rows, store=store, statuses=statuses, log=log
        )
        report.duplicate_jobs = len(duplicates)
        if not keep_staging:
            discard_staged_files(
                backend=self.backend,
                jobs=statuses,
                folders=[self.submission.output_uri],
                log=log,
            )
        switch_when_covered(store, report, min_coverage=min_coverage, log=log)
        return report


def _check_spend(
    dealt: ShardPlan,
    settings: SubmissionSettings,
    limits: RefreshLimits,
    *,
    staging: Storage,
    manifest: str,
    log: Log,
) -> None:
    """Says what the refresh will pay for; refuses it above the spend limits (`check_spend`)."""
    estimate = SpendEstimate.of(
        settings.model, prompts=dealt.prompts, characters=dealt.characters, tokens=dealt.tokens
    )
    log(f"estimated spend of this refresh: {estimate.describe()} ({estimate.basis})")
    try:
        check_spend(estimate, limits=limits, pipeline=settings.pipeline)
    except RefreshRefused:
        staging.delete(manifest)  # nothing of this refresh stays behind
        raise


def _use_paid_jobs(
    backend: BatchBackend,
    store: EmbeddingStore,
    rows: PlanningRows,
    settings: SubmissionSettings,
    submission_id: str,
    log: Log,
) -> tuple[list[AdoptableJob], int]:
    """Lands what finished earlier jobs wrote (see `adopt_paid_jobs`).

    Returns the unfinished jobs to wait for, and the rows landed from the finished ones.
    """
    paid = adopt_paid_jobs(
        backend=backend,
        store=store,
        rows=rows,
        pipeline=settings.pipeline,
        model=settings.model,
        submission_id=submission_id,
        log=log,
    )
    landed_rows = 0
    if paid.finished:  # whatever state they ended in, the rows they wrote are paid for
        landed_rows = rows.land_paid(paid.finished, log=log)
        store.record_consumed_jobs(settings.pipeline, [job.name for job in paid.finished])
    if not settings.keep_staging:  # landed or of no use: their request and output files go
        discard_staged_files(backend=backend, jobs=[*paid.finished, *paid.given_up], log=log)
    return paid.unfinished, landed_rows


def _claim(store: EmbeddingStore, settings: SubmissionSettings, *, log: Log) -> None:
    """Claims the pipeline's table for these settings; says when a new generation is built."""
    generations = store.claim(settings.identity)
    if generations.building is not None and generations.serving is not None:
        log(
            f"the table holds {generations.serving.describe()} vectors; this refresh builds "
            f"a new generation of {generations.building.describe()} vectors beside it, and "
            "the table keeps serving the old ones until the new generation reaches the "
            "pipeline's min_coverage"
        )
