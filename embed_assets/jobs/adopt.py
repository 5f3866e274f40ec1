"""Adopting what earlier submissions already paid for, so no prompt is paid twice.

A refresh can be interrupted anywhere: Ctrl-C while jobs run, a killed process after some
jobs were created but before Dagster recorded them, a crash while landing. Every job carries
the pipeline's label, and the store remembers which jobs it consumed (landed, or found of no
use). A new submission first looks for the pipeline's jobs it has not consumed that hold texts
the refresh still needs: a finished one (whatever its state) is landed at once, an unfinished
one becomes one of the new submission's jobs (waited for and landed, never resubmitted). A job
that holds nothing needed is cancelled if it still runs, and recorded as consumed.

Which texts a job holds is the rows' business (`jobs.rows.PlanningRows.held_by`): the same
rule runs in this process and in the warehouse.
"""

from dataclasses import dataclass, field

from embed_assets.backends.base import BatchBackend, JobStatus
from embed_assets.errors import BackendError
from embed_assets.jobs.polling import cancel_paused
from embed_assets.jobs.record import LABEL_PIPELINE, LABEL_SUBMISSION, label_value, pipeline_label
from embed_assets.jobs.rows import AdoptableJob, Log, PlanningRows
from embed_assets.jobs.settings import same_model
from embed_assets.store.base import EmbeddingStore


@dataclass(frozen=True)
class PaidJobs:
    """The earlier jobs a refresh can use.

    Attributes:
        unfinished: jobs still running that hold needed texts: the new submission waits for them.
        finished: terminal jobs that hold needed texts: what they wrote is landed now.
        given_up: terminal jobs that hold nothing needed: recorded as consumed, their staged
            files may go.
    """

    unfinished: list[AdoptableJob]
    finished: list[JobStatus]
    given_up: list[JobStatus] = field(default_factory=list)


def adopt_paid_jobs(
    *,
    backend: BatchBackend,
    store: EmbeddingStore,
    rows: PlanningRows,
    pipeline: str,
    model: str,
    submission_id: str,
    log: Log,
) -> PaidJobs:
    """Finds the pipeline's unconsumed jobs that hold needed texts; gives up on the rest.

    Args:
        backend: where the jobs run.
        store: the embedding table, which remembers the jobs it consumed.
        rows: the refresh's rows (they tell which needed texts a job holds).
        pipeline: the pipeline's name (its jobs carry it as a label).
        model: the model in use; jobs of another model hold nothing needed.
        submission_id: the new submission; its own jobs (a retry) are re-attached, not adopted.
        log: where one line per adopted or abandoned job goes.

    Returns:
        The unfinished jobs to wait for and the finished ones to land, as the backend listed them.
    """
    consumed = store.consumed_jobs(pipeline)
    own = label_value(submission_id)
    adopted: list[AdoptableJob] = []
    finished: list[JobStatus] = []
    useless: list[JobStatus] = []
    for listed in backend.find_jobs({LABEL_PIPELINE: pipeline_label(pipeline)}):
        if listed.name in consumed or listed.labels.get(LABEL_SUBMISSION) == own:
            continue
        job = cancel_paused(backend, listed, log=log)  # paused: it bills no more, then lands
        held = None
        # a stopped job may have written paid rows without saying where (no outputInfo): its
        # output is listed, but only for a job that could hold texts at all (a listing costs)
        if (
            same_model(job.model, model)
            and job.input_uri
            and not (job.is_terminal and not backend.output_files(job))
        ):
            held = rows.held_by(job, log=log)
        if held is not None and job.is_terminal:
            finished.append(job)  # landed now; what it did not write is submitted again
            continue
        if held is not None:
            adopted.append(held)
            log(
                f"adopted {job.display_name or job.name} ({job.state.value}): {held.texts} "
                "texts it holds are waited for, not submitted again"
            )
            continue
        if not job.is_terminal and backend.cancel_superseded:
            try:
                backend.cancel(job.name)
                log(f"cancelled {job.display_name or job.name}: it holds nothing still needed")
            except BackendError as error:
                log(f"could not cancel {job.name}: {error}")
                continue  # try again next refresh
        elif not job.is_terminal:
            continue  # left running on request; it may still be adopted later
        useless.append(job)
    store.record_consumed_jobs(pipeline, [job.name for job in useless])
    return PaidJobs(
        unfinished=adopted,
        finished=finished,
        given_up=[job for job in useless if job.is_terminal],
    )
