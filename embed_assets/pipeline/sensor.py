"""The job-completion sensor: polls a submission's jobs and requests the embeddings run.

Each tick reads the latest submission record, polls only the jobs that are not yet terminal
(within a time budget well under Dagster's 60 s evaluation limit), reports progress as asset
observations, and once every job is terminal requests one run of the embeddings asset and
everything downstream of it, keyed by the submission id so it is never requested twice.
"""

import time

import dagster as dg

from embed_assets.backends.base import BackendError, BatchBackend, JobState, calls_within
from embed_assets.human import progress
from embed_assets.jobs.handler import SubmissionHandler
from embed_assets.jobs.polling import PollResult
from embed_assets.jobs.record import Submission
from embed_assets.pipeline.cursor import JobSensorCursor, SensorOutcome, read_cursor
from embed_assets.pipeline.history import landed_submission_id, latest_submission, submitted_at
from embed_assets.pipeline.metadata import RUN_TAG_SUBMISSION, progress_metadata
from embed_assets.pipeline.names import pipeline_names
from embed_assets.pipeline.runs import run_materializing

DEFAULT_TIME_BUDGET_SECONDS = 40.0


def build_embedding_job_sensor(
    *,
    job_asset_key: dg.AssetKey,
    embeddings_key: dg.AssetKey,
    backend_key: str,
    minimum_interval_seconds: int = 30,
    time_budget_seconds: float = DEFAULT_TIME_BUDGET_SECONDS,
    name: str | None = None,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """Builds the sensor that lands a submission once all of its batch jobs have finished.

    Args:
        job_asset_key: the batch-job asset whose materialization metadata is the submission.
        embeddings_key: the embeddings asset; it and everything downstream of it are run.
        backend_key: resource key of the batch backend.
        minimum_interval_seconds: seconds between ticks.
        time_budget_seconds: seconds a tick may spend polling before it stops and resumes next tick.
        name: sensor name; defaults to `<pipeline>_batch_job_sensor`.
        default_status: whether the sensor runs as soon as the code location loads.

    Returns:
        A sensor targeting `embeddings_key` and its downstream assets.
    """
    sensor_name = name or pipeline_names("_".join(job_asset_key.path[:-1]) or "embed").sensor

    @dg.sensor(
        name=sensor_name,
        minimum_interval_seconds=minimum_interval_seconds,
        asset_selection=dg.AssetSelection.assets(embeddings_key).downstream(),
        required_resource_keys={backend_key},
        default_status=default_status,
        description="Polls the latest submission's batch jobs and, once all have finished, "
        "materializes the embeddings and everything downstream of them.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        submission = latest_submission(context.instance, job_asset_key)
        if submission is None:
            return dg.SkipReason(f"no submission yet: materialize {job_asset_key.to_user_string()}")
        cursor = read_cursor(context.cursor, log=context.log)
        if cursor.submission_id != submission.submission_id:
            cursor = JobSensorCursor(submission_id=submission.submission_id)
        if cursor.outcome is not None:
            return dg.SkipReason(cursor.outcome.sentence(submission.submission_id))
        if not submission.needs_landing:
            return dg.SensorResult(
                skip_reason=f"submission {submission.submission_id} changed nothing; no run needed",
                cursor=cursor.with_outcome(SensorOutcome.NOTHING_TO_LAND).serialize(),
            )
        if landed_submission_id(context.instance, embeddings_key) == submission.submission_id:
            return dg.SensorResult(
                skip_reason=f"submission {submission.submission_id} is already in the table",
                cursor=cursor.with_outcome(SensorOutcome.ALREADY_LANDED).serialize(),
            )
        running = run_materializing(context.instance, embeddings_key)
        if running is not None:  # e.g. Materialize all, whose embeddings step lands finished jobs
            return dg.SensorResult(
                skip_reason=f"run {running} is materializing {embeddings_key.to_user_string()}; "
                "waiting for it before landing anything",
                cursor=cursor.serialize(),
            )
        backend: BatchBackend = getattr(context.resources, backend_key)
        with calls_within(backend, time_budget_seconds):  # each call's timeout and retries too
            return _follow(
                context,
                SubmissionHandler(backend=backend, submission=submission),
                cursor,
                job_asset_key,
                time_budget_seconds,
                minimum_interval_seconds,
            )

    return _sensor


def _follow(
    context: dg.SensorEvaluationContext,
    handler: SubmissionHandler,
    cursor: JobSensorCursor,
    job_asset_key: dg.AssetKey,
    time_budget_seconds: float,
    minimum_interval_seconds: int,
) -> dg.SensorResult:
    """Polls the jobs once and decides: keep waiting, report failure, or request the run."""
    submission = handler.submission
    result = handler.poll(
        states=cursor.states,
        resume_at=cursor.resume_at,
        deadline=time.monotonic() + time_budget_seconds,
        log=context.log,
        done=cursor.done,
    )
    before = cursor
    cursor = cursor.with_poll(result)
    for line in result.changes:
        context.log.info(line)
    finished = result.finished(submission.jobs)
    done = result.rows_done(submission.jobs)
    submitted = submitted_at(context.instance, job_asset_key)
    elapsed = time.time() - submitted if submitted is not None else None
    moved = result.changes or done != _rows_done(before, submission)
    events = (
        [
            dg.AssetObservation(
                asset_key=job_asset_key,
                metadata=progress_metadata(
                    submission, cursor.states, finished=finished, done=done, elapsed=elapsed
                ),
            )
        ]
        if moved
        else []
    )
    if finished < len(submission.jobs):
        waiting = _waiting(
            submission, result, finished, minimum_interval_seconds, done=done, elapsed=elapsed
        )
        context.log.info(waiting)  # the tick's own log says it too
        return dg.SensorResult(asset_events=events, cursor=cursor.serialize(), skip_reason=waiting)
    states = [JobState(cursor.states[job.name]) for job in submission.jobs]
    stopped = bool(submission.jobs) and not any(s.has_output for s in states)
    try:  # a stopped job may have written rows (paid for) before it stopped: they land
        stopped = stopped and not handler.wrote_output()
    except BackendError as error:
        return dg.SensorResult(
            asset_events=events,
            cursor=cursor.serialize(),
            skip_reason=f"could not list what the stopped jobs wrote ({error}); next check in "
            f"{minimum_interval_seconds} s",
        )
    if stopped:
        summary = ", ".join(sorted({s.value for s in states}))
        context.log.error(
            f"every job of submission {submission.submission_id} ended without output "
            f"({summary}); no embeddings run is requested. The next refresh resubmits them."
        )
        return dg.SensorResult(
            asset_events=events,
            cursor=cursor.with_outcome(SensorOutcome.FAILED).serialize(),
            skip_reason=f"all jobs of submission {submission.submission_id} ended {summary}",
        )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=submission.submission_id,
                tags={RUN_TAG_SUBMISSION: submission.submission_id},
            )
        ],
        asset_events=events,
        cursor=cursor.with_outcome(SensorOutcome.REQUESTED).serialize(),
    )


def _rows_done(cursor: JobSensorCursor, submission: Submission) -> int:
    """The rows done as of the cursor's last poll."""
    return PollResult(cursor.states, done=cursor.done).rows_done(submission.jobs)


def _waiting(
    submission: Submission,
    result: PollResult,
    finished: int,
    interval_seconds: int,
    *,
    done: int,
    elapsed: float | None,
) -> str:
    """Why the tick waits (jobs not finished, or the service unreachable), and how far they are."""
    total = len(submission.jobs)
    rows = sum(job.prompts for job in submission.jobs)
    text = (
        f"{total - finished} of {total} jobs of submission {submission.submission_id} not "
        f"finished yet ({_state_counts(result)}): {progress(done, rows, elapsed=elapsed)}"
    )
    if result.unreachable:
        text += f"; Vertex AI is unreachable ({result.unreachable}), the jobs run on there"
    return f"{text}; next check in {interval_seconds} s"


def _state_counts(result: PollResult) -> str:
    """`2 RUNNING, 1 PENDING`: the jobs' last known states, most common first."""
    counts: dict[str, int] = {}
    for state in result.states.values():
        counts[state] = counts.get(state, 0) + 1
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items(), key=lambda i: -i[1]))
