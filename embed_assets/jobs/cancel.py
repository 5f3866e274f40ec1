"""Cancelling the unfinished jobs of a submission, on request (`embed-assets cancel`)."""

from collections.abc import Callable

from embed_assets.backends.base import BackendError, BatchBackend, JobStatus
from embed_assets.jobs.record import Submission


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
            if status.is_terminal:
                continue
            status = backend.cancel(job.name)
        except KeyError:
            continue  # the job record is gone (deleted): nothing left to cancel
        except BackendError as error:
            log(f"could not cancel {job.name}: {error}")
            continue
        log(f"cancelled {job.display_name} ({job.name}): now {status.state.value}")
        cancelled.append(status)
    return cancelled
