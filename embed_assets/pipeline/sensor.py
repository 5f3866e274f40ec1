"""The job-completion sensor: polls a submission's jobs and requests the embeddings run.

Each tick reads the latest submission record, polls only the jobs that are not yet terminal
(within a time budget well under Dagster's 60 s evaluation limit), reports progress as asset
observations, and once every job is terminal requests one run of the embeddings asset and
everything downstream of it, keyed by the submission id so it is never requested twice.
"""

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
import orjson

from embed_assets.backends.base import BackendError, BatchBackend, JobState
from embed_assets.submission import RUN_TAG_SUBMISSION, Submission, latest_submission

DEFAULT_TIME_BUDGET_SECONDS = 40.0

OUTCOME_REQUESTED = "requested"
OUTCOME_FAILED = "failed"
OUTCOME_NOTHING = "nothing-to-land"
OUTCOME_LANDED = "already-landed"


@dataclass
class SensorCursor:
    """What the sensor remembers between ticks: one submission and its jobs' last states."""

    submission_id: str | None = None
    states: dict[str, str] = field(default_factory=dict)
    outcome: str | None = None
    resume_at: int = 0

    @classmethod
    def parse(cls, text: str | None) -> "SensorCursor":
        """Reads a serialized cursor (an empty or unreadable one starts afresh)."""
        if not text:
            return cls()
        try:
            data = orjson.loads(text)
            return cls(
                data.get("submission_id"),
                dict(data.get("states", {})),
                data.get("outcome"),
                int(data.get("resume_at", 0)),
            )
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            return cls()

    def serialize(self) -> str:
        """Returns the cursor as a string."""
        return orjson.dumps(
            {
                "submission_id": self.submission_id,
                "states": self.states,
                "outcome": self.outcome,
                "resume_at": self.resume_at,
            }
        ).decode()


def poll_jobs(
    *,
    backend: BatchBackend,
    submission: Submission,
    cursor: SensorCursor,
    deadline: float,
    log: logging.Logger | dg.DagsterLogManager | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[int, list[str]]:
    """Polls each unfinished job at most once, until the deadline.

    A tick that runs out of time records where it stopped, and the next tick starts there, so
    every job is polled in turn however many there are.

    Returns:
        (calls made, lines describing the jobs whose state changed).
    """
    calls = 0
    changes: list[str] = []
    jobs = submission.jobs
    start = cursor.resume_at % len(jobs) if jobs else 0
    cursor.resume_at = 0
    for offset in range(len(jobs)):
        index = (start + offset) % len(jobs)
        job = jobs[index]
        previous = cursor.states.get(job.name)
        if previous is not None and JobState(previous).is_terminal:
            continue
        if clock() >= deadline:
            cursor.resume_at = index
            if log:
                log.info(
                    f"the tick's time budget is spent after {calls} polls; the next tick "
                    f"resumes at job {index + 1} of {len(jobs)}"
                )
            break
        calls += 1
        try:
            status = backend.get(job.name)
        except BackendError as error:  # the service is down or refuses: try again next tick
            cursor.resume_at = index
            if log:
                log.warning(f"could not read {job.name}: {error}; will retry next tick")
            break
        cursor.states[job.name] = status.state.value
        if status.state.value != previous:
            changes.append(status.describe())
    return calls, changes


def _progress_event(
    submission: Submission, cursor: SensorCursor, asset_key: dg.AssetKey
) -> dg.AssetObservation:
    counts = Counter(cursor.states.get(job.name, "UNKNOWN") for job in submission.jobs)
    finished = sum(
        n for state, n in counts.items() if state != "UNKNOWN" and JobState(state).is_terminal
    )
    return dg.AssetObservation(
        asset_key=asset_key,
        metadata={
            "submission_id": submission.submission_id,
            "jobs_finished": dg.MetadataValue.int(finished),
            "jobs_total": dg.MetadataValue.int(len(submission.jobs)),
            "job_states": dg.MetadataValue.json(dict(sorted(counts.items()))),
        },
    )


def build_embedding_job_sensor(
    *,
    job_asset_key: dg.AssetKey,
    embeddings_key: dg.AssetKey,
    backend_key: str = "embedding_backend",
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
    sensor_name = name or f"{'_'.join(job_asset_key.path[:-1]) or 'embed'}_batch_job_sensor"

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
        cursor = SensorCursor.parse(context.cursor)
        if cursor.submission_id != submission.submission_id:
            cursor = SensorCursor(submission_id=submission.submission_id)
        if cursor.outcome is not None:
            return dg.SkipReason(f"submission {submission.submission_id}: {cursor.outcome}")
        if not submission.needs_landing:
            cursor.outcome = OUTCOME_NOTHING
            return dg.SensorResult(
                skip_reason=f"submission {submission.submission_id} changed nothing; no run needed",
                cursor=cursor.serialize(),
            )
        if landed_submission(context.instance, embeddings_key) == submission.submission_id:
            cursor.outcome = OUTCOME_LANDED
            return dg.SensorResult(
                skip_reason=f"submission {submission.submission_id} is already in the table",
                cursor=cursor.serialize(),
            )
        backend: BatchBackend = getattr(context.resources, backend_key)
        deadline = time.monotonic() + time_budget_seconds
        _, changes = poll_jobs(
            backend=backend,
            submission=submission,
            cursor=cursor,
            deadline=deadline,
            log=context.log,
        )
        for line in changes:
            context.log.info(line)
        events = [_progress_event(submission, cursor, job_asset_key)] if changes else []
        states = [
            JobState(cursor.states[j.name]) for j in submission.jobs if j.name in cursor.states
        ]
        if len(states) < len(submission.jobs) or not all(s.is_terminal for s in states):
            finished = sum(s.is_terminal for s in states)
            return dg.SensorResult(
                asset_events=events,
                cursor=cursor.serialize(),
                skip_reason=f"{finished} of {len(submission.jobs)} jobs of submission "
                f"{submission.submission_id} finished",
            )
        if submission.jobs and not any(s.has_output for s in states):
            cursor.outcome = OUTCOME_FAILED
            summary = ", ".join(sorted({s.value for s in states}))
            context.log.error(
                f"every job of submission {submission.submission_id} ended without output "
                f"({summary}); no embeddings run is requested. The next refresh resubmits them."
            )
            return dg.SensorResult(
                asset_events=events,
                cursor=cursor.serialize(),
                skip_reason=f"all jobs of submission {submission.submission_id} ended {summary}",
            )
        cursor.outcome = OUTCOME_REQUESTED
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=submission.submission_id,
                    tags={RUN_TAG_SUBMISSION: submission.submission_id},
                )
            ],
            asset_events=events,
            cursor=cursor.serialize(),
        )

    return _sensor


def landed_submission(instance: dg.DagsterInstance, embeddings_key: dg.AssetKey) -> str | None:
    """Returns the submission id the embeddings asset last landed."""
    event = instance.get_latest_materialization_event(embeddings_key)
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get("submission_id")
    return str(getattr(value, "value", value)) if value is not None else None
