"""Planning and submitting in BigQuery: the diff, adoption, the manifest and prompts tables as SQL.

The process sends SQL and job requests and reads counts back; no corpus row passes through it.
It keeps the in-process path's promises: the refresh limits are checked before anything is
paid, a retried run re-attaches to the jobs it created (labels), and the unconsumed jobs of
interrupted submissions are adopted (still running) or landed (finished) instead of paid again.
"""

import dataclasses
import hashlib
from collections.abc import Callable

from embed_assets.backends.base import BackendError, JobStatus
from embed_assets.backends.vertex import VertexBatchBackend
from embed_assets.bigquery_client import TableAddress, is_bigquery_uri, query_rows, run_query
from embed_assets.bigquery_staging import BigQueryStorage
from embed_assets.jobs.guard import RefreshLimits, check_refresh_counts
from embed_assets.jobs.handler import SubmissionSettings
from embed_assets.jobs.plan import PLAN_SUBMIT, shard_ranges
from embed_assets.jobs.record import (
    LABEL_PIPELINE,
    LABEL_SUBMISSION,
    Submission,
    SubmittedJob,
    label_value,
)
from embed_assets.jobs.submit import create_or_reattach, jobs_by_shard
from embed_assets.models.catalog import vector_dimension
from embed_assets.store.bigquery import BigQueryEmbeddingStore
from embed_assets.store.bigquery_landing import land_prediction_table
from embed_assets.warehouse.corpus import WarehouseCorpus
from embed_assets.warehouse.sql import (
    ADOPTED_SQL,
    HELD_SQL,
    MANIFEST_SQL,
    NOTHING_ADOPTED_SQL,
    PLAN_COUNTS_SQL,
    PLAN_SQL,
    PROMPTS_SQL,
    SHARD_COUNTS_SQL,
)

Log = Callable[[str], None]


def _counts(staging: BigQueryStorage, plan: TableAddress, stored: str) -> dict[str, int]:
    (row,) = query_rows(staging.client, PLAN_COUNTS_SQL.format(plan=plan.sql, stored=stored))
    names = ("corpus_rows", "rejected", "unchanged", "reuse", "stored", "deleted", "prompts")
    counts = {name: int(str(value or 0)) for name, value in zip(names, row, strict=False)}
    counts["digest"] = int(str(row[-1] or 0))
    return counts


def _adopt(
    *,
    backend: VertexBatchBackend,
    store: BigQueryEmbeddingStore,
    staging: BigQueryStorage,
    plan: TableAddress,
    settings: SubmissionSettings,
    submission_id: str,
    log: Log,
) -> tuple[list[tuple[JobStatus, int]], int]:
    """Adopts unfinished earlier jobs holding needed texts, lands finished ones, drops the rest.

    Returns the adopted jobs with the needed texts each holds, and rows landed from finished
    ones (the plan is then out of date).
    """
    consumed = store.consumed_jobs(settings.pipeline)
    own = label_value(submission_id)
    adopted: list[tuple[JobStatus, int]] = []
    given_up: list[str] = []
    landed_rows = 0
    wanted = f"SELECT id, content_hash FROM {plan.sql} WHERE plan = '{PLAN_SUBMIT}'"
    for job in backend.find_jobs({LABEL_PIPELINE: label_value(settings.pipeline)}):
        if job.name in consumed or job.labels.get(LABEL_SUBMISSION) == own:
            continue
        held = 0
        same_model = job.model.rsplit("/", 1)[-1] == settings.model
        if same_model and is_bigquery_uri(job.input_uri) and staging.exists(job.input_uri):
            prompts = staging.table(job.input_uri).sql
            ((count,),) = query_rows(
                staging.client, HELD_SQL.format(prompts=prompts, plan=plan.sql)
            )
            held = int(str(count))
        if held and job.is_terminal:
            if job.output_directory and staging.exists(job.output_directory):
                landing = land_prediction_table(
                    store,
                    pipeline=settings.pipeline,
                    predictions_uri=job.output_directory,
                    wanted=wanted,
                    model=settings.model,
                    dimension=vector_dimension(settings.model, settings.output_dimensionality),
                    failures_only=True,
                )
                landed_rows += landing.written if landing else 0
                log(f"landed {landing.written if landing else 0} rows that {job.name} "
                    f"({job.state.value}) already paid for")  # fmt: skip
            given_up.append(job.name)
        elif held:
            adopted.append((job, held))
            log(
                f"adopted {job.display_name or job.name} ({job.state.value}): {held} texts it "
                "holds are waited for, not submitted again"
            )
        elif not job.is_terminal and backend.cancel_superseded:
            try:
                backend.cancel(job.name)
                given_up.append(job.name)
                log(f"cancelled {job.display_name or job.name}: it holds nothing still needed")
            except BackendError as error:
                log(f"could not cancel {job.name}: {error}")
        elif job.is_terminal:
            given_up.append(job.name)
    store.record_consumed_jobs(settings.pipeline, given_up)
    return adopted, landed_rows


def plan_and_submit(
    *,
    backend: VertexBatchBackend,
    store: BigQueryEmbeddingStore,
    corpus: WarehouseCorpus,
    settings: SubmissionSettings,
    run_id: str,
    limits: RefreshLimits,
    log: Log,
) -> Submission:
    """Diffs the staged corpus against the table in BigQuery and submits one job per shard.

    Raises:
        ValueError: the backend cannot run the model, or the refresh would lose data.
        BackendError: the service refused or did not answer; a retry re-attaches.
    """
    backend.validate_model(
        model=settings.model, output_dimensionality=settings.output_dimensionality
    )
    staging = backend.staging()
    assert isinstance(staging, BigQueryStorage)
    store.claim(settings.identity)
    pipeline = settings.pipeline
    plan = staging.table(staging.join(pipeline, "planning"))
    with store.write_target(pipeline) as (_, stored):
        pass  # the table exists from here on, so the plan can join it
    corpus_sql = staging.table(corpus.table).sql
    run_query(staging.client, PLAN_SQL.format(target=plan.sql, corpus=corpus_sql, stored=stored))
    counts = _counts(staging, plan, stored)
    check_refresh_counts(
        rows=counts["corpus_rows"],
        rejected=counts["rejected"],
        stored_rows=counts["stored"],
        deleted_rows=counts["deleted"],
        limits=limits,
        pipeline=pipeline,
    )
    digest = hashlib.sha256(f"{run_id}|{counts['prompts']}|{counts['digest']}".encode())
    submission_id = f"{label_value(pipeline)[:30]}-{digest.hexdigest()[:16]}"
    adopted, landed_rows = _adopt(
        backend=backend,
        store=store,
        staging=staging,
        plan=plan,
        settings=settings,
        submission_id=submission_id,
        log=log,
    )
    if landed_rows:  # rows the table now holds are unchanged, not submitted
        run_query(
            staging.client, PLAN_SQL.format(target=plan.sql, corpus=corpus_sql, stored=stored)
        )
        counts = _counts(staging, plan, stored)
    manifest = staging.table(staging.join(pipeline, submission_id, "manifest"))
    # jobs may overlap, so this may be low: shards then come out smaller, never above the limit
    fresh = max(counts["prompts"] - sum(count for _, count in adopted), 0)
    limit = settings.max_prompts_per_job or backend.max_prompts_per_job(settings.model)
    ranges = list(shard_ranges(fresh, limit))
    size = ranges[0][1] - ranges[0][0] if ranges else 1
    adopted_sql = " UNION ALL ".join(
        ADOPTED_SQL.format(shard=index, prompts=staging.table(job.input_uri).sql)
        for index, (job, _) in enumerate(adopted)
    )
    run_query(
        staging.client,
        MANIFEST_SQL.format(
            target=manifest.sql,
            plan=plan.sql,
            adopted=f"SELECT content_hash, MIN(shard) AS shard FROM ({adopted_sql}) GROUP BY 1"
            if adopted_sql
            else NOTHING_ADOPTED_SQL,
        ),
        {"first": len(adopted), "size": size},
    )
    staging.client.delete_table(plan.qualified, not_found_ok=True)
    shards = {
        int(str(shard)): (int(str(prompts)), int(str(characters or 0)))
        for shard, prompts, characters in query_rows(
            staging.client, SHARD_COUNTS_SQL.format(manifest=manifest.sql)
        )
        if int(str(shard)) >= 0
    }
    first = len(adopted)  # shards 0..first-1 are the adopted jobs, counted without overlaps
    held = sum(prompts for shard, (prompts, _) in shards.items() if shard < first)
    fresh = sum(prompts for shard, (prompts, _) in shards.items() if shard >= first)
    submission = Submission(
        submission_id=submission_id,
        pipeline=pipeline,
        model=settings.model,
        task_type=settings.task_type,
        output_dimensionality=settings.output_dimensionality,
        manifest_uri=manifest.uri,
        output_uri=staging.join(pipeline, submission_id, "output"),
        jobs=(),
        corpus_rows=counts["corpus_rows"],
        accepted_rows=counts["corpus_rows"] - counts["rejected"],
        rejected_rows=counts["rejected"],
        prompts=fresh,
        characters=sum(c for s, (_, c) in shards.items() if s >= first),
        unchanged_rows=counts["unchanged"],
        reused_rows=counts["reuse"],
        stale_rows=counts["stored"] - counts["unchanged"],
        rejected_by_reason=dict(corpus.rejected_by_reason),
        adopted_prompts=held,
        rows_landed_while_planning=landed_rows,
        warehouse=True,
    )
    if not (submission.needs_landing or fresh or adopted):
        return submission
    jobs = [
        SubmittedJob(
            shard=index,
            name=job.name,
            display_name=job.display_name,
            input_uri=job.input_uri,
            prompts=shards.get(index, (0, 0))[0],
            characters=shards.get(index, (0, 0))[1],
            url=backend.console_url(job),
            adopted=True,
        )
        for index, (job, _) in enumerate(adopted)
    ]
    jobs += _submit_shards(
        backend=backend,
        staging=staging,
        submission=submission,
        shards={s: v for s, v in shards.items() if s >= first},
        auto_truncate=settings.auto_truncate,
        log=log,
    )
    return dataclasses.replace(submission, jobs=tuple(jobs))


def _submit_shards(
    *,
    backend: VertexBatchBackend,
    staging: BigQueryStorage,
    submission: Submission,
    shards: dict[int, tuple[int, int]],
    auto_truncate: bool,
    log: Log,
) -> list[SubmittedJob]:
    """Writes each new shard's prompts table (SQL) and creates its job, or re-attaches to it."""
    existing = jobs_by_shard(backend, submission)
    manifest = staging.table(submission.manifest_uri)
    jobs = []
    for shard, (prompts, characters) in sorted(shards.items()):

        def stage(input_uri: str, shard: int = shard) -> None:
            run_query(
                staging.client,
                PROMPTS_SQL.format(target=staging.table(input_uri).sql, manifest=manifest.sql),
                {"task_type": submission.task_type, "shard": shard},
            )

        jobs.append(
            create_or_reattach(
                backend=backend,
                submission=submission,
                shard=shard,
                prompts=prompts,
                characters=characters,
                extension="",
                stage=stage,
                existing=existing,
                auto_truncate=auto_truncate,
                log=log,
            )
        )
    return jobs
