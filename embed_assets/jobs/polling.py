"""Polling a submission's jobs within a time budget, resuming where the last poll stopped."""

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
from embed_assets.jobs.cancel import cancel_paused
from embed_assets.jobs.record import SubmittedJob


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
