"""Submitting a plan: write the manifest and request shards, create (or re-attach to) the jobs.

Submitting is idempotent: every job carries labels derived from the submission id and shard,
and a retried run re-attaches to the jobs it already created instead of paying for them twice.
"""

import io
from collections.abc import Callable, Mapping, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from embed_assets.backends.base import BatchBackend, JobRequest, JobStatus
from embed_assets.bigquery_staging import BigQueryStorage
from embed_assets.jobs.adopt import AdoptedJob
from embed_assets.jobs.plan import PLAN_SUBMIT, Plan, render_prompts_table, render_shard
from embed_assets.jobs.record import (
    LABEL_SHARD,
    LABEL_SUBMISSION,
    Submission,
    SubmittedJob,
    label_value,
)
from embed_assets.models.catalog import ModelSpec


def submit_plan(
    *,
    backend: BatchBackend,
    plan: Plan,
    submission: Submission,
    spec: ModelSpec,
    shards: list[tuple[int, int]],
    auto_truncate: bool,
    log: Callable[[str], None],
    adopted: Sequence[AdoptedJob] = (),
) -> tuple[SubmittedJob, ...]:
    """Writes the manifest and request shards, then creates (or re-attaches to) one job per shard.

    Adopted jobs of earlier submissions come first (shards 0..a-1) and hold the texts they were
    adopted for; the plan's prompts (which leave those texts out) fill the new shards after them.
    """
    staging = backend.staging()
    manifest = plan.manifest.copy()
    manifest["shard"] = -1
    first = len(adopted)
    shard_of_hash: dict[str, int] = {}
    for shard, job in enumerate(adopted):
        for content_hash in job.hashes:
            shard_of_hash[content_hash] = shard
    for offset, (start, stop) in enumerate(shards):
        for content_hash in plan.prompts["content_hash"].iloc[start:stop]:
            shard_of_hash[content_hash] = first + offset
    submitted = manifest["plan"] == PLAN_SUBMIT
    manifest.loc[submitted, "shard"] = manifest.loc[submitted, "content_hash"].map(shard_of_hash)
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(manifest, preserve_index=False), buffer)
    staging.write_bytes(submission.manifest_uri, buffer.getvalue())

    existing = jobs_by_shard(backend, submission)
    jobs = [
        SubmittedJob(
            shard=shard,
            name=job.status.name,
            display_name=job.status.display_name,
            input_uri=job.status.input_uri,
            prompts=job.prompts,
            characters=job.characters,
            url=backend.console_url(job.status),
            adopted=True,
        )
        for shard, job in enumerate(adopted)
    ]
    tables = isinstance(staging, BigQueryStorage)  # one prompts table per job, else JSONL
    for offset, (start, stop) in enumerate(shards):
        rows = plan.prompts.iloc[start:stop]

        def stage(input_uri: str, rows: pd.DataFrame = rows) -> None:
            if isinstance(staging, BigQueryStorage):
                staging.write_table(input_uri, render_prompts_table(rows, submission.task_type))
            else:
                staging.write_bytes(
                    input_uri,
                    render_shard(
                        rows, spec, submission.task_type, submission.output_dimensionality
                    ),
                )

        jobs.append(
            create_or_reattach(
                backend=backend,
                submission=submission,
                shard=first + offset,
                prompts=len(rows),
                characters=int(rows["content"].str.len().sum()),
                extension="" if tables else ".jsonl",
                stage=stage,
                existing=existing,
                auto_truncate=auto_truncate,
                log=log,
            )
        )
    return tuple(jobs)


def jobs_by_shard(backend: BatchBackend, submission: Submission) -> dict[str, JobStatus]:
    """The jobs a submission created already (by an earlier attempt), by their shard label."""
    return {
        job.labels.get(LABEL_SHARD, ""): job
        for job in backend.find_jobs({LABEL_SUBMISSION: label_value(submission.submission_id)})
    }


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
                output_uri_prefix=staging.join(
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
