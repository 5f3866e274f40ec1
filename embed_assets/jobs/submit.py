"""Submitting shards: write each request and create its job, or re-attach to the one there is.

Submitting is idempotent: every job carries labels derived from the submission id and shard,
and a retried run re-attaches to the jobs it already created instead of paying for them twice.
A create whose answer was lost can still make a second job for a shard on the service (it
takes no request id); `cancel_duplicates` finds such jobs by their labels, cancels them while
they run, and leaves them out of the landing.
"""

from collections.abc import Callable, Mapping, Sequence
from functools import partial

from embed_assets.backends.base import BatchBackend, JobRequest, JobStatus, earliest
from embed_assets.errors import BackendError
from embed_assets.jobs.record import (
    LABEL_SHARD,
    LABEL_SUBMISSION,
    Submission,
    SubmittedJob,
    label_value,
)
from embed_assets.jobs.rows import Shard


def submit_shards(
    *,
    backend: BatchBackend,
    submission: Submission,
    shards: Sequence[Shard],
    extension: str,
    stage: Callable[[int, str], None],
    auto_truncate: bool,
    log: Callable[[str], None],
) -> list[SubmittedJob]:
    """Creates one job per shard, or re-attaches to the one an earlier attempt created.

    Args:
        backend: where the jobs run.
        submission: the submission the shards belong to.
        shards: the new shards (adopted jobs are not among them).
        extension: of a request's name (`.jsonl`; none for a table).
        stage: writes a shard's request to the URI it is given (`stage(shard, uri)`).
        auto_truncate: let the model cut long inputs.
        log: where one line per shard goes.
    """
    existing = jobs_by_shard(backend, submission)
    return [
        create_or_reattach(
            backend=backend,
            submission=submission,
            shard=shard.shard,
            prompts=shard.prompts,
            characters=shard.characters,
            extension=extension,
            stage=partial(stage, shard.shard),
            existing=existing,
            auto_truncate=auto_truncate,
            log=log,
        )
        for shard in shards
    ]


def jobs_by_shard(backend: BatchBackend, submission: Submission) -> dict[str, JobStatus]:
    """The jobs a submission created already (by an earlier attempt), by their shard label.

    Where a shard has two jobs (a lost create answer), the one created first is kept: a retry
    picks the same one, and `cancel_duplicates` stops the other.
    """
    shards: dict[str, list[JobStatus]] = {}
    for job in backend.find_jobs({LABEL_SUBMISSION: label_value(submission.submission_id)}):
        shards.setdefault(job.labels.get(LABEL_SHARD, ""), []).append(job)
    return {shard: earliest(jobs) for shard, jobs in shards.items()}


def cancel_duplicates(
    *, backend: BatchBackend, submission: Submission, log: Callable[[str], None]
) -> list[JobStatus]:
    """Finds the jobs that carry the submission's labels but are not its recorded jobs.

    Each is a second job for a shard, made by a create whose answer was lost; it is cancelled
    while it is unfinished, and never landed (its shard's recorded job is).

    Returns:
        The duplicate jobs found, with the status each was left in.
    """
    recorded = {job.name for job in submission.jobs}
    if not recorded:
        return []
    found = backend.find_jobs({LABEL_SUBMISSION: label_value(submission.submission_id)})
    duplicates: list[JobStatus] = []
    for job in (job for job in found if job.name not in recorded):
        shard = job.labels.get(LABEL_SHARD, "?")
        if not job.state.is_finished_on_the_service:
            try:
                job = backend.cancel(job.name)
                log(f"shard {shard}: cancelled duplicate job {job.name} (a lost create answer)")
            except BackendError as error:
                log(f"shard {shard}: could not cancel duplicate job {job.name}: {error}")
        duplicates.append(job)
    return duplicates


def shard_output_prefix(input_uri: str) -> str:
    """Where a shard's job writes its predictions, from its request's URI ("": a table).

    `.../<submission>/requests-00003.jsonl` writes below `.../<submission>/output/shard-00003`.
    """
    folder, _, name = input_uri.rpartition("/")
    if not folder or not name.startswith("requests-"):
        return ""  # a prompts table: the service names its prediction table
    return f"{folder}/output/shard-{name.removeprefix('requests-').split('.', 1)[0]}"


def create_or_reattach(
    *,
    backend: BatchBackend,
    submission: Submission,
    shard: int,
    prompts: int,
    characters: int,
    extension: str,
    stage: Callable[[str], None],
    existing: Mapping[str, JobStatus],
    auto_truncate: bool,
    log: Callable[[str], None],
) -> SubmittedJob:
    """Re-attaches to the shard's job if an earlier attempt created it, else stages and creates it.

    Args:
        backend: where the job runs.
        submission: the submission the shard belongs to.
        shard: the shard's number.
        prompts: prompts in the shard.
        characters: characters in the shard.
        extension: of the request's name (`.jsonl`; none for a table).
        stage: writes the shard's request to the URI it is given.
        existing: the submission's jobs already created (`jobs_by_shard`).
        auto_truncate: let the model cut long inputs.
        log: where one line goes.
    """
    staging = backend.staging()
    labels = submission.job_labels(shard)
    display_name = f"embed-assets-{submission.submission_id}-{shard:05d}"
    input_uri = staging.join(
        submission.pipeline, submission.submission_id, f"requests-{shard:05d}{extension}"
    )
    status = existing.get(labels[LABEL_SHARD])
    if status is not None:
        log(f"shard {shard}: re-attached to {status.name} ({status.state.value}), created earlier")
    else:
        stage(input_uri)
        status = backend.submit(
            JobRequest(
                display_name=display_name,
                model=submission.model,
                input_uri=input_uri,
                output_uri_prefix=shard_output_prefix(input_uri)
                or staging.join(
                    submission.pipeline, submission.submission_id, "output", f"shard-{shard:05d}"
                ),
                labels=labels,
                prompts=prompts,
                output_dimensionality=submission.output_dimensionality,
                auto_truncate=auto_truncate,
            )
        )
        log(f"shard {shard}: submitted {prompts} prompts as {status.name}")
    return SubmittedJob(
        shard=shard,
        name=status.name,
        display_name=display_name,
        input_uri=input_uri,
        prompts=prompts,
        characters=characters,
        url=backend.console_url(status),
    )
