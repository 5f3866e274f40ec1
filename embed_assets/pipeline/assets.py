"""The three assets of a pipeline and their checks: corpus, embedding_batch_job, embeddings."""

import dataclasses
import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import dagster as dg
import pandas as pd

from embed_assets.backends.base import BackendError, BatchBackend
from embed_assets.cancellation import cancel_unfinished_jobs
from embed_assets.catalog import model_spec
from embed_assets.corpus import CorpusError
from embed_assets.landing import LandingReport, SubmissionNotFinished, land_submission
from embed_assets.prepare import plan_refresh, shard_prompts, submission_id_for, submit_plan
from embed_assets.pricing import estimate_cost
from embed_assets.store.base import EmbeddingStore
from embed_assets.submission import (
    RUN_TAG_SUBMISSION,
    Submission,
    find_submission,
    latest_submission,
)

if TYPE_CHECKING:
    from embed_assets.pipeline import EmbeddingPipeline

EXAMPLES = 5


def markdown_table(rows: pd.DataFrame, columns: list[str], *, limit: int = EXAMPLES) -> str:
    """Renders the first rows of a frame as a Markdown table ("none" when empty)."""
    if rows.empty:
        return "none"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows.head(limit)[columns].itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def build_assets(pipeline: "EmbeddingPipeline") -> list[dg.AssetsDefinition]:
    """Returns the corpus, batch-job and embeddings assets of `pipeline`, with their checks."""
    return [_corpus_asset(pipeline), _batch_job_asset(pipeline), _embeddings_asset(pipeline)]


def _corpus_version(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    for value in frame["content_hash"].fillna("-"):
        digest.update(value.encode())
    return digest.hexdigest()[:16]


def _corpus_asset(pipeline: "EmbeddingPipeline") -> dg.AssetsDefinition:
    upstream = pipeline.corpus if isinstance(pipeline.corpus, dg.AssetKey) else None
    ins = {"source": dg.AssetIn(key=upstream)} if upstream is not None else {}

    @dg.asset(
        key=pipeline.corpus_key,
        ins=ins,
        group_name=pipeline.name,
        kinds={"pandas"},
        check_specs=[
            dg.AssetCheckSpec(
                "rejected_rows",
                asset=pipeline.corpus_key,
                description=f"At most {pipeline.max_rejected_fraction:.0%} of rows are rejected.",
            )
        ],
        description=f"The corpus from {pipeline.describe_source()}, normalized to id, content, "
        "title, with a content hash per row. Rows that cannot be embedded stay in the frame with "
        "the reason they were rejected.",
    )
    def corpus(context: dg.AssetExecutionContext, **inputs: pd.DataFrame) -> Iterator[Any]:
        try:
            frame = pipeline.prepare(pipeline.load_corpus(inputs.get("source")))
        except CorpusError as error:
            raise dg.Failure(description=str(error)) from error
        rejected = frame[frame["reason"].notna()]
        counts = {str(k): int(v) for k, v in rejected["reason"].value_counts().items()}
        fraction = len(rejected) / len(frame) if len(frame) else 0.0
        context.log.info(
            f"{len(frame)} rows read, {len(frame) - len(rejected)} accepted, {len(rejected)} "
            f"rejected{(' (' + ', '.join(f'{k}: {v}' for k, v in counts.items()) + ')') if counts else ''}"
        )
        yield dg.Output(
            frame,
            metadata={
                "corpus_version": _corpus_version(frame),
                "dagster/row_count": dg.MetadataValue.int(len(frame)),
                "accepted_rows": dg.MetadataValue.int(len(frame) - len(rejected)),
                "rejected_rows": dg.MetadataValue.int(len(rejected)),
                "rejected_by_reason": dg.MetadataValue.json(counts),
                "rejected_examples": dg.MetadataValue.md(
                    markdown_table(rejected, ["row", "id", "reason"])
                ),
                "model": pipeline.resolved_model,
                "source": pipeline.describe_source(),
            },
        )
        yield dg.AssetCheckResult(
            check_name="rejected_rows",
            passed=fraction <= pipeline.max_rejected_fraction,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "rejected_rows": dg.MetadataValue.int(len(rejected)),
                "rejected_fraction": dg.MetadataValue.float(fraction),
                "max_rejected_fraction": dg.MetadataValue.float(pipeline.max_rejected_fraction),
            },
        )

    return corpus


def _batch_job_asset(pipeline: "EmbeddingPipeline") -> dg.AssetsDefinition:
    @dg.asset(
        key=pipeline.batch_job_key,
        ins={"corpus": dg.AssetIn(key=pipeline.corpus_key)},
        group_name=pipeline.name,
        required_resource_keys={pipeline.backend_key, pipeline.store_key},
        kinds={"vertexai"},
        description="Submits batch embedding jobs for the rows the table lacks and returns at "
        "once; its metadata is the submission record the sensor follows.",
    )
    def embedding_batch_job(
        context: dg.AssetExecutionContext, corpus: pd.DataFrame
    ) -> dg.MaterializeResult:
        backend: BatchBackend = getattr(context.resources, pipeline.backend_key)
        store: EmbeddingStore = getattr(context.resources, pipeline.store_key)
        model = pipeline.resolved_model
        try:
            backend.validate_model(
                model=model, output_dimensionality=pipeline.output_dimensionality
            )
        except ValueError as error:
            raise dg.Failure(description=str(error)) from error
        spec = model_spec(model)
        plan = plan_refresh(corpus, store.current_hashes(pipeline.name))
        limit = pipeline.max_prompts_per_job or backend.max_prompts_per_job(model)
        shards = shard_prompts(plan.prompts, spec, limit)
        run_id = context.run.tags.get("dagster/root_run_id", context.run.run_id)
        submission_id = submission_id_for(pipeline.name, run_id, plan.prompts)
        staging = backend.staging()
        counts = plan.manifest["plan"].value_counts()
        submission = Submission(
            submission_id=submission_id,
            pipeline=pipeline.name,
            model=model,
            task_type=pipeline.task_type,
            output_dimensionality=pipeline.output_dimensionality,
            manifest_uri=staging.join(pipeline.name, submission_id, "manifest.parquet"),
            output_uri=staging.join(pipeline.name, submission_id, "output"),
            jobs=(),
            corpus_rows=len(corpus),
            accepted_rows=int(corpus["reason"].isna().sum()),
            rejected_rows=int(counts.get("rejected", 0)),
            prompts=len(plan.prompts),
            characters=int(plan.prompts["content"].str.len().sum()) if len(plan.prompts) else 0,
            unchanged_rows=int(counts.get("unchanged", 0)),
            reused_rows=int(counts.get("reuse", 0)),
            stale_rows=plan.stale_rows,
        )
        superseded = _cancel_superseded(context, pipeline, backend, submission_id)
        if submission.needs_landing or len(plan.prompts):
            try:
                jobs = submit_plan(
                    backend=backend,
                    plan=plan,
                    submission=submission,
                    spec=spec,
                    shards=shards,
                    auto_truncate=pipeline.auto_truncate,
                    log=context.log.info,
                )
            except BackendError as error:
                raise dg.Failure(
                    description=f"submission {submission_id} could not be submitted: {error}. "
                    "Re-executing this run re-attaches to the jobs already created."
                ) from error
            submission = dataclasses.replace(submission, jobs=jobs)
        context.log.info(
            f"submission {submission_id}: {submission.prompts} prompts in {len(submission.jobs)} "
            f"jobs; {submission.unchanged_rows} rows unchanged, {submission.reused_rows} reused, "
            f"{submission.stale_rows} stale stored rows"
        )
        cost = estimate_cost(model, characters=submission.characters)
        return dg.MaterializeResult(
            metadata={
                **submission.to_metadata(),
                **cost.to_metadata(),
                "cancelled_superseded_jobs": dg.MetadataValue.int(superseded),
            }
        )

    return embedding_batch_job


def _cancel_superseded(
    context: dg.AssetExecutionContext,
    pipeline: "EmbeddingPipeline",
    backend: BatchBackend,
    submission_id: str,
) -> int:
    """Cancels the unfinished jobs of the previous submission, which this one replaces."""
    if not backend.cancel_superseded:
        return 0
    previous = latest_submission(context.instance, pipeline.batch_job_key)
    if previous is None or previous.submission_id == submission_id:
        return 0  # nothing before, or a retry of this same submission
    cancelled = cancel_unfinished_jobs(backend=backend, submission=previous, log=context.log.info)
    if cancelled:
        context.log.info(
            f"submission {submission_id} supersedes {previous.submission_id}: cancelled "
            f"{len(cancelled)} unfinished jobs; their rows are part of this submission"
        )
    return len(cancelled)


def _find_submission(
    context: dg.AssetExecutionContext, pipeline: "EmbeddingPipeline"
) -> Submission:
    wanted = context.run.tags.get(RUN_TAG_SUBMISSION)
    if wanted:
        found = find_submission(context.instance, pipeline.batch_job_key, wanted)
        if found is None:
            raise dg.Failure(
                description=f"submission {wanted} was not found in the batch-job history"
            )
        return found
    latest = latest_submission(context.instance, pipeline.batch_job_key)
    if latest is None:
        raise dg.Failure(
            description=f"no submission yet: materialize {pipeline.batch_job_key.to_user_string()} first"
        )
    return latest


def _embeddings_asset(pipeline: "EmbeddingPipeline") -> dg.AssetsDefinition:
    key = pipeline.embeddings_key
    checks = [
        dg.AssetCheckSpec(
            "coverage",
            asset=key,
            description=f"At least {pipeline.min_coverage:.0%} of accepted rows are embedded.",
        ),
        dg.AssetCheckSpec(
            "dimension", asset=key, description=f"Every vector has {pipeline.dimension} values."
        ),
        dg.AssetCheckSpec(
            "finite_values", asset=key, description="No vector holds NaN or infinity."
        ),
        dg.AssetCheckSpec(
            "rows_accounted", asset=key, description="Corpus rows = embedded + failed + rejected."
        ),
    ]

    @dg.asset(
        key=key,
        deps=[pipeline.batch_job_key],
        group_name=pipeline.name,
        required_resource_keys={pipeline.backend_key, pipeline.store_key},
        kinds={"duckdb"},
        check_specs=checks,
        description="The embedding table, updated from the latest submission's prediction files: "
        "new rows upserted, rows that left the corpus deleted, failed rows recorded.",
    )
    def embeddings(context: dg.AssetExecutionContext) -> Iterator[Any]:
        backend: BatchBackend = getattr(context.resources, pipeline.backend_key)
        store: EmbeddingStore = getattr(context.resources, pipeline.store_key)
        submission = _find_submission(context, pipeline)
        try:
            report = land_submission(
                submission=submission, backend=backend, store=store, log=context.log.info
            )
        except (SubmissionNotFinished, BackendError) as error:
            raise dg.Failure(description=str(error)) from error
        stats = store.stats(pipeline.name, dimension=pipeline.dimension)
        context.log.info(_summary_line(report))
        yield dg.MaterializeResult(
            metadata=_landing_metadata(report, submission, stats, store, pipeline)
        )
        accepted = report.corpus_rows - report.rejected_rows
        coverage = report.embedded_ids / accepted if accepted else 1.0
        yield dg.AssetCheckResult(
            check_name="coverage",
            passed=coverage >= pipeline.min_coverage,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"coverage": coverage, "failed_rows": report.failed_rows},
        )
        yield dg.AssetCheckResult(
            check_name="dimension",
            passed=stats.wrong_dimension == 0,
            metadata={
                "rows_with_wrong_dimension": stats.wrong_dimension,
                "expected": pipeline.dimension,
            },
        )
        yield dg.AssetCheckResult(
            check_name="finite_values",
            passed=stats.non_finite == 0,
            metadata={"rows_with_non_finite_values": stats.non_finite},
        )
        yield dg.AssetCheckResult(
            check_name="rows_accounted",
            passed=report.accounted,
            metadata={
                "corpus_rows": report.corpus_rows,
                "embedded": report.embedded_ids,
                "failed": report.failed_rows,
                "rejected": report.rejected_rows,
            },
        )

    return embeddings


def _summary_line(report: LandingReport) -> str:
    return (
        f"submission {report.submission_id}: {report.embedded_ids} rows embedded "
        f"({report.written_rows} written, {report.reused_rows} reused), {report.failed_rows} "
        f"failed, {report.rejected_rows} rejected, {report.deleted_rows} deleted"
    )


def _landing_metadata(
    report: LandingReport,
    submission: Submission,
    stats: Any,
    store: EmbeddingStore,
    pipeline: "EmbeddingPipeline",
) -> dict[str, Any]:
    return {
        "dagster/row_count": dg.MetadataValue.int(stats.rows),
        "submission_id": dg.MetadataValue.text(submission.submission_id),
        "table": dg.MetadataValue.text(store.table_ref(pipeline.name)),
        "model": dg.MetadataValue.text(submission.model),
        "dimension": dg.MetadataValue.int(pipeline.dimension),
        "embedded_rows": dg.MetadataValue.int(report.embedded_ids),
        "written_rows": dg.MetadataValue.int(report.written_rows),
        "reused_rows": dg.MetadataValue.int(report.reused_rows),
        "deleted_rows": dg.MetadataValue.int(report.deleted_rows),
        "failed_rows": dg.MetadataValue.int(report.failed_rows),
        "rejected_rows": dg.MetadataValue.int(report.rejected_rows),
        "failed_examples": dg.MetadataValue.md(markdown_table(report.failures, ["id", "reason"])),
        "prompts": dg.MetadataValue.int(submission.prompts),
        "characters": dg.MetadataValue.int(submission.characters),
        "tokens": dg.MetadataValue.int(report.tokens),
        **estimate_cost(
            submission.model, characters=submission.characters, tokens=report.tokens
        ).to_metadata(),
        "prediction_files": dg.MetadataValue.int(report.prediction_files),
        "job_states": dg.MetadataValue.json(report.job_states),
    }
