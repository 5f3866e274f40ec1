"""Cancelling jobs: a submission's unfinished ones, and a paused one so that it bills no more.

`embed-assets cancel` cancels a submission's unfinished jobs; a paused job, which Vertex
cannot resume, is cancelled wherever it is read.
"""

from collections.abc import Callable

from embed_assets.backends.base import BackendError, BatchBackend, JobState, JobStatus
from embed_assets.jobs.record import Submission


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
