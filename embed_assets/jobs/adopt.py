"""Adopting what earlier submissions already paid for, so no prompt is paid twice.

A refresh can be interrupted anywhere: Ctrl-C while jobs run, a killed process after some
jobs were created but before Dagster recorded them, a crash while landing. Every job carries
the pipeline's label, and the store remembers which jobs it consumed (landed, or found of no
use). A new submission first looks for the pipeline's jobs it has not consumed that hold texts
the refresh still needs: a finished one (whatever its state) is landed at once, an unfinished
one becomes one of the new submission's jobs (waited for and landed, never resubmitted). A job
that holds nothing needed is cancelled if it still runs, and recorded as consumed.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from embed_assets.backends.base import BackendError, BatchBackend, JobStatus
from embed_assets.bigquery_staging import BigQueryStorage
from embed_assets.corpus.hashing import content_hashes
from embed_assets.jobs.record import LABEL_PIPELINE, LABEL_SUBMISSION, label_value
from embed_assets.models.catalog import model_spec
from embed_assets.predictions.lines import Prompt, RequestSchema, parse_request_line
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

    unfinished: list["AdoptedJob"]
    finished: list[JobStatus]
    given_up: list[JobStatus] = field(default_factory=list)


@dataclass(frozen=True)
class AdoptedJob:
    """A job of an earlier submission that holds texts this refresh needs.

    Attributes:
        status: the job as the backend reported it.
        hashes: the content hashes it holds that the refresh needs.
        prompts: prompts in its request file.
        characters: characters in its request file.
    """

    status: JobStatus
    hashes: frozenset[str]
    prompts: int
    characters: int


def request_hashes(
    backend: BatchBackend, job: JobStatus, *, model: str, output_dimensionality: int | None
) -> tuple[list[str], int]:
    """The content hashes of a job's request lines (as landing computes them), and characters."""
    staging = backend.staging()
    parsed: list[tuple[Prompt, str | None, int | None]]
    if isinstance(staging, BigQueryStorage):  # a prompts table
        table = staging.read_table(job.input_uri).to_pydict()
        parsed = [
            (Prompt(key=str(key or ""), content=content or "", title=title), task, None)
            for key, content, title, task in zip(
                table["key"], table["content"], table["title"], table["task_type"], strict=True
            )
        ]
    else:
        with staging.open_read(job.input_uri) as stream:
            parsed = [parse_request_line(line) for line in stream if line.strip()]
    characters = sum(len(prompt.content) for prompt, _, _ in parsed)
    if model_spec(model).schema is RequestSchema.GEMINI:
        return [prompt.key for prompt, _, _ in parsed], characters
    hashes: list[str] = []
    for task_type in {task for _, task, _ in parsed}:  # one task type per job, in practice
        rows = [prompt for prompt, task, _ in parsed if task == task_type]
        hashes += content_hashes(
            [p.content for p in rows],
            [p.title for p in rows],
            model=model,
            task_type=task_type,
            output_dimensionality=output_dimensionality,
        )
    return hashes, characters


def adopt_paid_jobs(
    *,
    backend: BatchBackend,
    store: EmbeddingStore,
    pipeline: str,
    model: str,
    output_dimensionality: int | None,
    needed: set[str],
    submission_id: str,
    log: Callable[[str], None],
) -> PaidJobs:
    """Finds the pipeline's unconsumed jobs that hold needed texts; gives up on the rest.

    Args:
        backend: where the jobs run.
        store: the embedding table, which remembers the jobs it consumed.
        pipeline: the pipeline's name (its jobs carry it as a label).
        model: the model in use; jobs of another model hold nothing needed.
        output_dimensionality: the vector length asked for.
        needed: the content hashes this refresh would otherwise submit.
        submission_id: the new submission; its own jobs (a retry) are re-attached, not adopted.
        log: where one line per adopted or abandoned job goes.

    Returns:
        The unfinished jobs to wait for and the finished ones to land, as the backend listed them.
    """
    consumed = store.consumed_jobs(pipeline)
    own = label_value(submission_id)
    adopted: list[AdoptedJob] = []
    finished: list[JobStatus] = []
    useless: list[JobStatus] = []
    claimed: set[str] = set()
    for job in backend.find_jobs({LABEL_PIPELINE: label_value(pipeline)}):
        if job.name in consumed or job.labels.get(LABEL_SUBMISSION) == own:
            continue
        holds: set[str] = set()
        prompts = characters = 0
        same_model = job.model.rsplit("/", 1)[-1] == model.rsplit("/", 1)[-1]
        failed_empty = job.is_terminal and not job.output_directory
        if same_model and not failed_empty and job.input_uri:
            try:
                hashes, characters = request_hashes(
                    backend, job, model=model, output_dimensionality=output_dimensionality
                )
            except (OSError, ValueError, KeyError) as error:  # request file gone or unreadable
                log(f"cannot read the requests of {job.name} ({error}); not adopted")
                hashes = []
            prompts = len(hashes)
            holds = (set(hashes) & needed) - claimed
        if holds and job.is_terminal:
            finished.append(job)  # landed now; what it did not write is submitted again
            continue
        if holds:
            claimed |= holds
            adopted.append(AdoptedJob(job, frozenset(holds), prompts, characters))
            log(
                f"adopted {job.display_name or job.name} ({job.state.value}): {len(holds)} "
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
