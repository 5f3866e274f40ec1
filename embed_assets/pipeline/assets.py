"""The three assets of a pipeline: corpus, embedding_batch_job, embeddings.

Each asset is a thin Dagster face over the submission handler (`embed_assets.jobs`): the
metadata they write is built in `metadata`, their checks in `checks`.
"""

import hashlib
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import dagster as dg
import pandas as pd

import embed_assets.pipeline.history as history
import embed_assets.pipeline.metadata as md
from embed_assets.backends.base import BatchBackend
from embed_assets.corpus.prepared import PreparedCorpus
from embed_assets.errors import (
    BackendError,
    CorpusError,
    EmbedAssetsError,
    OverBudget,
    RefreshInProgress,
    SubmissionError,
    to_failure,
)
from embed_assets.jobs.guard import SpendEstimate
from embed_assets.jobs.handler import SubmissionHandler
from embed_assets.jobs.landing import LandingReport
from embed_assets.jobs.record import Submission
from embed_assets.jobs.rows import RowPlacement
from embed_assets.models.pricing import estimate_cost
from embed_assets.pipeline.checks import (
    corpus_check_specs,
    embeddings_check_specs,
    rejected_rows_result,
    table_check_results,
)
from embed_assets.pipeline.config import RefreshConfig
from embed_assets.pipeline.lock import lock_folder, refresh_lock
from embed_assets.pipeline.names import BATCH_JOB_ASSET, CORPUS_ASSET, EMBEDDINGS_ASSET
from embed_assets.pipeline.placement import CorpusToPlan, placement_of
from embed_assets.placements.bigquery.corpus import WarehouseCorpus
from embed_assets.store.base import EmbeddingStore

if TYPE_CHECKING:  # the pipeline builds these; they read it
    from embed_assets.pipeline.embedding_pipeline import EmbeddingPipeline


def build_assets(
    spec: "EmbeddingPipeline",
    *,
    backend_kind: str | None = None,
    store_kind: str | None = None,
    in_warehouse: bool = False,
) -> list[dg.AssetsDefinition]:
    """Returns the corpus, batch-job and embeddings assets of a pipeline, with their checks.

    Where the rows live is chosen by each run from the resources it has bound
    (`pipeline.placement.placement_of`).

    Args:
        spec: the pipeline.
        backend_kind: the Dagster kind of the bound backend (`vertexai`, `python`), if known.
        store_kind: the Dagster kind of the bound store (`duckdb`), if known.
        in_warehouse: the corpus is staged in BigQuery, as far as is known when building (its
            kind).
    """
    return [
        _corpus_asset(spec, in_warehouse=in_warehouse),
        _batch_job_asset(spec, kinds={backend_kind} if backend_kind else set()),
        _embeddings_asset(spec, kinds={store_kind} if store_kind else set()),
    ]


def asset_arguments(spec: "EmbeddingPipeline", asset: str, *, kinds: set[str]) -> dict[str, Any]:
    """The `@dg.asset` arguments of one asset from its (translated) spec, plus `kinds`."""
    shaped = spec.asset_spec(asset)
    return {
        "key": shaped.key,
        "group_name": shaped.group_name,
        "owners": list(shaped.owners) or None,
        "tags": dict(shaped.tags) or None,
        "description": shaped.description,
        "automation_condition": shaped.automation_condition,
        "metadata": dict(shaped.metadata) or None,
        "kinds": (set(shaped.kinds) | kinds) or None,
        "code_version": shaped.code_version,
    }


def _version(*parts: str) -> dg.DataVersion:
    return dg.DataVersion(hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16])


def _corpus_asset(spec: "EmbeddingPipeline", *, in_warehouse: bool) -> dg.AssetsDefinition:
    upstream = spec.corpus if isinstance(spec.corpus, dg.AssetKey) else None
    ins = {"source": dg.AssetIn(key=upstream)} if upstream is not None else {}
    names = spec.names

    @dg.asset(
        **asset_arguments(spec, CORPUS_ASSET, kinds={"bigquery" if in_warehouse else "parquet"}),
        ins=ins,
        deps=[spec.source_key] if spec.source_key else None,
        check_specs=corpus_check_specs(spec),
        required_resource_keys={names.backend_key, names.store_key},  # they say where rows live
    )
    def corpus(
        context: dg.AssetExecutionContext, config: RefreshConfig, **inputs: pd.DataFrame
    ) -> Iterator[Any]:
        placement = placement_of(context, spec)
        context.log.info(placement.reason)
        try:
            prepared = placement.prepare_corpus(
                spec, instance_root=context.instance.root_directory, upstream=inputs.get("source")
            )
        except CorpusError as error:
            raise to_failure(error) from error
        context.log.info(prepared.summary)
        corpus = prepared.corpus
        with warnings.catch_warnings():  # Output(data_version=) is beta; users need not hear of it
            warnings.simplefilter("ignore", dg.BetaWarning)
            output = dg.Output(
                corpus,
                data_version=dg.DataVersion(corpus.version),
                metadata={
                    **md.corpus_counts_metadata(
                        rows=corpus.rows,
                        rejected_by_reason=corpus.rejected_by_reason,
                        examples=corpus.rejected_examples,
                        version=corpus.version,
                        model=spec.resolved_model,
                        source=spec.describe_source(),
                        columns=prepared.columns,
                    ),
                    **prepared.location,
                },
            )
        yield output
        yield rejected_rows_result(
            spec,
            rejected=corpus.rejected,
            rows=corpus.documents or corpus.rows,
            allowed=config.allow_rejected_rows,
        )

    return corpus


def _batch_job_asset(spec: "EmbeddingPipeline", *, kinds: set[str]) -> dg.AssetsDefinition:
    names = spec.names

    @dg.asset(
        **asset_arguments(spec, BATCH_JOB_ASSET, kinds=kinds),
        ins={"corpus": dg.AssetIn(key=spec.corpus_key)},
        required_resource_keys={names.backend_key, names.store_key},
        pool=names.pool,
    )
    def embedding_batch_job(
        context: dg.AssetExecutionContext,
        config: RefreshConfig,
        corpus: Any,  # a PreparedCorpus, or a WarehouseCorpus (Dagster types no union)
    ) -> dg.MaterializeResult:
        placement = placement_of(context, spec)
        try:  # before the lock: a file prepared on another machine is prepared again here
            to_plan = placement.checked(corpus, spec, instance_root=context.instance.root_directory)
        except EmbedAssetsError as error:
            raise to_failure(error) from error
        try:  # two runs planning at once would both submit the same texts
            with refresh_lock(
                lock_folder(context.instance.root_directory),
                spec.name,
                holder=f"run {context.run.run_id}",
                kind="submit",
            ):
                submission = _plan_and_submit(context, spec, config, to_plan)
        except RefreshInProgress as error:
            raise to_failure(error) from error
        submission_id = submission.submission_id
        context.log.info(
            f"submission {submission_id}: {submission.prompts} prompts in {len(submission.jobs)} "
            f"jobs ({submission.adopted_prompts} texts in jobs adopted from earlier submissions); "
            f"{submission.unchanged_rows} rows unchanged, {submission.reused_rows} reused, "
            f"{submission.stale_rows} stale stored rows"
        )
        # a submission that changes nothing keeps the version, so nothing downstream goes stale
        previous = history.latest_data_version(context.instance, spec.batch_job_key)
        if submission.needs_landing or previous is None:
            version = _version("submission", submission_id)
        else:
            version = dg.DataVersion(previous)
        in_force = history.submission_in_force(context.instance, spec.embeddings_key)
        if not submission.needs_landing:
            context.log.info(md.nothing_new(in_force))
        return dg.MaterializeResult(
            data_version=version,
            metadata=md.submission_metadata(
                submission,
                cost=estimate_cost(
                    submission.model,
                    characters=submission.characters,
                    tokens=submission.tokens or None,
                    estimated=True,
                ),
                version=version.value,
                in_force=in_force,
            ),
        )

    return embedding_batch_job


def _plan_and_submit(
    context: dg.AssetExecutionContext,
    spec: "EmbeddingPipeline",
    config: RefreshConfig,
    corpus: CorpusToPlan[PreparedCorpus] | CorpusToPlan[WarehouseCorpus],
) -> Submission:
    """Plans the refresh (adopting what earlier submissions paid for) and submits the rest."""
    backend: BatchBackend = getattr(context.resources, spec.names.backend_key)
    store: EmbeddingStore = getattr(context.resources, spec.names.store_key)
    limits = config.limits(
        max_rejected_fraction=spec.max_rejected_fraction,
        max_deleted_fraction=spec.max_deleted_fraction,
        max_estimated_cost_usd=spec.max_estimated_cost_usd,
        max_prompts_per_refresh=spec.max_prompts_per_refresh,
    )
    run_id = context.run.tags.get(md.ROOT_RUN_ID_TAG, context.run.run_id)
    try:
        handler = corpus.plan(
            backend=backend,
            store=store,
            run_id=run_id,
            settings=spec.submission_settings,
            limits=limits,
            log=context.log.info,
        )
        planned = handler.submission  # what it will pay for, shown before any job is created
        context.log_event(
            dg.AssetObservation(
                asset_key=spec.batch_job_key,
                metadata=md.spend_metadata(
                    SpendEstimate.of(
                        planned.model,
                        prompts=planned.prompts,
                        characters=planned.characters,
                        tokens=planned.tokens or None,
                    )
                ),
            )
        )
        return handler.submit(log=context.log.info)
    except BackendError as error:
        raise to_failure(
            error, hint="Re-executing this run re-attaches to the jobs already created"
        ) from error
    except OverBudget as error:  # nothing submitted: the estimate goes with the failure
        estimate = error.estimate
        extra = md.spend_metadata(estimate) if isinstance(estimate, SpendEstimate) else {}
        raise to_failure(error, metadata=extra) from error
    except EmbedAssetsError as error:  # the model is refused, or the refresh would lose data
        raise to_failure(error) from error


def _submission_to_land(
    context: dg.AssetExecutionContext, spec: "EmbeddingPipeline"
) -> Submission | None:
    """The submission a run lands: the one its tag names (the sensor's run), else the latest."""
    wanted = context.run.tags.get(md.RUN_TAG_SUBMISSION)
    if wanted:
        found = history.find_submission(context.instance, spec.batch_job_key, wanted)
        if found is None:
            raise dg.Failure(
                description=f"submission {wanted} was not found in the batch-job history"
            )
        return found
    return history.latest_submission(context.instance, spec.batch_job_key)


def _nothing_to_land(
    context: dg.AssetExecutionContext, spec: "EmbeddingPipeline", handler: SubmissionHandler
) -> str | None:
    """Why this run lands nothing (a sentence), or None when it should land the submission."""
    submission = handler.submission
    if not submission.needs_landing:
        return f"submission {submission.submission_id} changed nothing: the table is up to date"
    if (
        history.landed_submission_id(context.instance, spec.embeddings_key)
        == submission.submission_id
    ):
        return f"submission {submission.submission_id} is already in the table"
    if md.RUN_TAG_SUBMISSION in context.run.tags:
        return None  # the sensor's run: every job has finished
    statuses = handler.statuses()
    running = [status for status in statuses if not status.is_terminal]
    if running:
        return (
            f"{len(statuses) - len(running)} of {len(statuses)} jobs of submission "
            f"{submission.submission_id} have finished; sensor {spec.names.sensor} lands them "
            "when all have, and refreshes everything downstream"
        )
    return None


def _embeddings_asset(spec: "EmbeddingPipeline", *, kinds: set[str]) -> dg.AssetsDefinition:
    names = spec.names
    shaped = spec.asset_spec(EMBEDDINGS_ASSET)
    asset_spec = shaped.replace_attributes(
        deps=[spec.batch_job_key], skippable=True, kinds=set(shaped.kinds) | kinds
    )

    @dg.multi_asset(
        name="__".join(spec.embeddings_key.path),
        specs=[asset_spec],
        check_specs=embeddings_check_specs(spec),
        can_subset=True,  # the UI may execute one check alone
        required_resource_keys={names.backend_key, names.store_key},
    )
    def embeddings(context: dg.AssetExecutionContext) -> Iterator[Any]:
        if spec.embeddings_key in context.selected_asset_keys:
            yield from _land_if_due(context, spec, placement_of(context, spec).rows)
        # after a landing, of the table it wrote; else of the table as it is
        yield from table_check_results(context, spec)

    return embeddings


def _land_if_due(
    context: dg.AssetExecutionContext, spec: "EmbeddingPipeline", placement: RowPlacement
) -> Iterator[dg.MaterializeResult]:
    """Lands the submission to land, if any is due; else says in one line why not."""
    names = spec.names
    backend: BatchBackend = getattr(context.resources, names.backend_key)
    store: EmbeddingStore = getattr(context.resources, names.store_key)
    submission = _submission_to_land(context, spec)
    if submission is None:
        context.log.info(
            f"no submission yet: {spec.batch_job_key.to_user_string()} has never been "
            "materialized; nothing to land"
        )
        return
    handler = SubmissionHandler(backend=backend, submission=submission, placement=placement)
    try:  # one landing at a time: a second one would find the staged files deleted
        with refresh_lock(
            lock_folder(context.instance.root_directory),
            spec.name,
            holder=f"run {context.run.run_id}",
            kind="land",
        ):
            why_not = _nothing_to_land(context, spec, handler)
            if why_not is not None:
                context.log.info(why_not)
                return
            yield from _land(context, spec, handler, store)
    except RefreshInProgress as error:
        context.log.info(f"{error}; this run lands nothing")
    except BackendError as error:
        raise to_failure(error) from error


def _land(
    context: dg.AssetExecutionContext,
    spec: "EmbeddingPipeline",
    handler: SubmissionHandler,
    store: EmbeddingStore,
) -> Iterator[dg.MaterializeResult]:
    """Lands the submission and yields the materialization (its checks run as the next step)."""
    submission = handler.submission
    try:
        report = handler.land(
            store=store,
            min_coverage=spec.min_coverage,
            log=context.log.info,
            keep_staging=spec.keep_staging,
        )
    except SubmissionError as error:
        raise to_failure(error) from error
    serving = report.generations.serving
    dimension = serving.dimension if serving is not None else spec.dimension
    stats = store.stats(spec.name, dimension=dimension)
    context.log.info(_summary_line(report))
    cost = estimate_cost(submission.model, characters=submission.characters, tokens=report.tokens)
    yield dg.MaterializeResult(
        data_version=_version(
            "landed", submission.submission_id, serving.describe() if serving else ""
        ),
        metadata=md.landing_metadata(
            report,
            stats=stats,
            table=store.table_ref(spec.name),
            dimension=dimension,
            cost=cost,
            preview=store.preview(spec.name, rows=md.EXAMPLES),
            staging_kept=spec.keep_staging,
        ),
    )


def _summary_line(report: LandingReport) -> str:
    return (
        f"submission {report.submission_id}: {report.embedded_ids} rows embedded "
        f"({report.written_rows} written, {report.reused_rows} reused), {report.failed_rows} "
        f"failed, {report.rejected_rows} rejected, {report.deleted_rows} deleted"
    )
