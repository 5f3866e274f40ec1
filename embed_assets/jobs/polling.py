"""Polling a submission's jobs, and cancelling those that must not run on.

A round of polling keeps within a time budget and resumes where the last one stopped. A
paused job, which Vertex cannot resume, is cancelled wherever it is read; `embed-assets
cancel` cancels a submission's unfinished jobs.
"""

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import dagster as dg

from embed_assets.backends.base import (
    BackendError,
    BackendUnavailable,
    BatchBackend,
    JobState,
    JobStatus,
)
from embed_assets.errors import JobNotFound
from embed_assets.jobs.record import Submission, SubmittedJob


@dataclass(frozen=True)
class PollResult:
    """What one round of polling learned.

    Attributes:
        states: the last known state of every job polled so far, by job name.
        resume_at: the job the next round starts at (it stopped there for lack of time).
        calls: `get` calls made.
        changes: one line per job whose state changed.
        unreachable: why the service could not be read this round ("" when it could).
        done: rows each unfinished job has processed so far (embedded or failed), by job
            name, as its completion stats last said.
    """

    states: Mapping[str, str]
    resume_at: int = 0
    calls: int = 0
    changes: list[str] = field(default_factory=list)
    unreachable: str = ""
    done: Mapping[str, int] = field(default_factory=dict)

    def finished(self, jobs: Sequence[SubmittedJob]) -> int:
        """Counts the jobs known to be in a terminal state."""
        return sum(
            1
            for job in jobs
            if job.name in self.states and JobState(self.states[job.name]).is_terminal
        )

    def rows_done(self, jobs: Sequence[SubmittedJob]) -> int:
        """Rows processed: all of a finished job's, an unfinished one's as last reported."""
        return sum(
            job.prompts
            if job.name in self.states and JobState(self.states[job.name]).is_terminal
            else min(self.done.get(job.name, 0), job.prompts)
            for job in jobs
        )


def poll_jobs(
    *,
    backend: BatchBackend,
    jobs: Sequence[SubmittedJob],
    states: Mapping[str, str],
    resume_at: int = 0,
    deadline: float,
    log: logging.Logger | dg.DagsterLogManager | None = None,
    clock: Callable[[], float] = time.monotonic,
    done_before: Mapping[str, int] | None = None,
) -> PollResult:
    """Polls each unfinished job at most once, until the deadline.

    A round that runs out of time records where it stopped, and the next round starts there,
    so every job is polled in turn however many there are. A job found PAUSED is cancelled
    (`cancel_paused`); a job the service no longer has (404) is GONE; both are final.

    Args:
        backend: where the jobs run.
        jobs: the submission's jobs.
        states: the states known from earlier rounds; terminal jobs are not polled again.
        resume_at: the job to start at.
        deadline: the `clock` reading at which to stop.
        log: where to say why a round stopped early.
        clock: a monotonic clock.
        done_before: the rows each job had processed by the earlier rounds.
    """
    known = dict(states)
    done = dict(done_before or {})
    calls = 0
    changes: list[str] = []
    start = resume_at % len(jobs) if jobs else 0
    for offset in range(len(jobs)):
        index = (start + offset) % len(jobs)
        job = jobs[index]
        previous = known.get(job.name)
        if previous is not None and JobState(previous).is_terminal:
            continue
        if clock() >= deadline:
            if log:
                log.info(
                    f"the tick's time budget is spent after {calls} polls; the next tick "
                    f"resumes at job {index + 1} of {len(jobs)}"
                )
            return PollResult(known, index, calls, changes, done=done)
        calls += 1
        try:
            status = cancel_paused(backend, backend.get(job.name), log=_info(log))
        except JobNotFound:  # deleted: final, never polled again; what it wrote still lands
            status = JobStatus.gone(job.name)
        except BackendUnavailable as error:  # the jobs run on; read them again next round
            if log:
                log.warning(f"{error}; will retry next tick")
            return PollResult(known, index, calls, changes, unreachable=str(error), done=done)
        except BackendError as error:  # the service refuses: try again next round
            if log:
                log.warning(f"could not read {job.name}: {error}; will retry next tick")
            return PollResult(known, index, calls, changes, done=done)
        known[job.name] = status.state.value
        done[job.name] = status.successful_count + status.failed_count
        if status.state.value != previous:
            changes.append(status.describe())
    return PollResult(known, 0, calls, changes, done=done)


def _info(log: logging.Logger | dg.DagsterLogManager | None) -> Callable[[str], None]:
    return log.info if log is not None else lambda line: None


def cancel_paused(
    backend: BatchBackend, status: JobStatus, *, log: Callable[[str], None]
) -> JobStatus:
    """Cancels a PAUSED job and returns its state after the cancel (any other job as it is).

    A batch prediction job has no resume call: paused, it would hold its submission back for
    good, and could start billing again. Once cancelled it is final: what it wrote is landed,
    and its other texts are submitted again by the next refresh. A cancel that fails leaves
    the job PAUSED; it is cancelled again the next time it is read.
    """
    if status.state is not JobState.PAUSED:
        return status
    try:
        after = backend.cancel(status.name)
    except BackendError as error:
        log(f"{status.name} is PAUSED and could not be cancelled yet ({error})")
        return status
    log(
        f"{status.name} was PAUSED, which a batch job cannot leave: cancelled so it bills no "
        f"more (now {after.state.value}); what it wrote is landed, its other texts are sent again"
    )
    return after


def cancel_unfinished_jobs(
    *, backend: BatchBackend, submission: Submission, log: Callable[[str], None]
) -> list[JobStatus]:
    """Asks the backend to cancel every job of `submission` that has not finished.

    Args:
        backend: where the jobs run.
        submission: the submission whose jobs to cancel.
        log: where one line per cancelled job goes.

    Returns:
        The status of each job a cancel was sent for.
    """
    cancelled: list[JobStatus] = []
    for job in submission.jobs:
        try:
            status = backend.get(job.name)
            if status.state.is_finished_on_the_service:
                continue  # a paused job is cancelled: it bills no more
            status = backend.cancel(job.name)
        except KeyError:
            continue  # the job record is gone (deleted): nothing left to cancel
        except BackendError as error:
            log(f"could not cancel {job.name}: {error}")
            continue
        log(f"cancelled {job.display_name} ({job.name}): now {status.state.value}")
        cancelled.append(status)
    return cancelled
