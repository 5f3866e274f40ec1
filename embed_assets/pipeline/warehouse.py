"""Where a pipeline's rows live: declared by its `placement`, decided when a run has its resources.

A pipeline is warehouse-native when its corpus is a BigQuery table or query, its backend
stages in a BigQuery dataset (`staging_uri="bq://..."`), its store declares a warehouse
(`store.base.Warehouse`) and its model reads BigQuery (the legacy embedding models). This is
read from what the resources a run has bound declare (whether passed to `build_definitions`
or bound in `dg.Definitions(resources=...)`), never from their classes, so a user's own
backend or store runs warehouse-native too. Then the corpus asset validates and hashes in
BigQuery and outputs a `WarehouseCorpus` (the staged table's address and counts) instead of
rows, and the one lifecycle plans, submits and lands with SQL (`WarehousePlacement`).
`placement="warehouse"` refuses resources that cannot, naming what is missing; `"auto"` says
in the run's log why rows come through the process.
"""

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg

import embed_assets.pipeline.metadata as md
from embed_assets.backends.base import BatchBackend
from embed_assets.bigquery.client import bigquery_client, is_bigquery_uri, parse_dataset_uri
from embed_assets.corpus.bigquery_source import BigQueryQuery
from embed_assets.corpus.chunks import chunk_budget
from embed_assets.corpus.hashing import hash_prefix
from embed_assets.errors import ConfigError, CorpusError, to_failure
from embed_assets.jobs.in_process import InProcessPlacement
from embed_assets.jobs.rows import RowPlacement
from embed_assets.models.catalog import model_spec
from embed_assets.pipeline.checks import rejected_rows_result
from embed_assets.pipeline.config import RefreshConfig
from embed_assets.predictions.lines import RequestSchema
from embed_assets.staging.bigquery_dataset import BigQueryStorage
from embed_assets.store.base import EmbeddingStore, store_warehouse
from embed_assets.warehouse.chunks import ChunkingSQL
from embed_assets.warehouse.corpus import stage_corpus
from embed_assets.warehouse.placement import WarehousePlacement

if TYPE_CHECKING:  # the pipeline builds these; they read it
    from embed_assets.pipeline.embedding_pipeline import EmbeddingPipeline

Placement = Literal["auto", "warehouse", "process"]
PLACEMENTS: tuple[Placement, ...] = ("auto", "warehouse", "process")


def check_placement(placement: str) -> None:
    """Refuses a `placement` that is none of `PLACEMENTS`."""
    if placement not in PLACEMENTS:
        raise ConfigError(f"placement={placement!r}: one of {', '.join(map(repr, PLACEMENTS))}")


@dataclass(frozen=True)
class ChosenPlacement:
    """Where a run's rows live: chosen from the pipeline's `placement` and its bound resources.

    Attributes:
        rows: the placement the lifecycle asks for each step.
        staging: the `bq://project.dataset` staging in the warehouse; None in the process.
        reason: why, in one line.
    """

    rows: RowPlacement
    staging: str | None
    reason: str


def warehouse_gaps(
    spec: "EmbeddingPipeline", backend: BatchBackend | None, store: EmbeddingStore | None
) -> list[str]:
    """What keeps this pipeline, with this backend and store, out of the warehouse ([] if nothing).

    Read from what the backend and store declare, never from their classes.
    """
    corpus = spec.corpus
    gaps = []
    if not (
        isinstance(corpus, BigQueryQuery) or (isinstance(corpus, str) and is_bigquery_uri(corpus))
    ):
        gaps.append("the corpus is not a bq:// table or a BigQueryQuery")
    staging_uri = str(getattr(backend, "staging_uri", "") or "")  # declared by the backend
    if not is_bigquery_uri(staging_uri):
        gaps.append(f"the backend stages in {staging_uri or 'no dataset'}, not a bq:// dataset")
    if store is None or store_warehouse(store) is None:
        gaps.append(f"the store ({type(store).__name__}) has no warehouse to land in with SQL")
    if model_spec(spec.resolved_model).schema is not RequestSchema.LEGACY:
        gaps.append(f"{spec.resolved_model} does not read its prompts from BigQuery tables")
    return gaps


def choose_placement(
    spec: "EmbeddingPipeline", backend: BatchBackend | None, store: EmbeddingStore | None
) -> ChosenPlacement:
    """Where the rows live with the resources a run has bound.

    Raises:
        ConfigError: `placement="warehouse"` with resources that cannot do it, naming what
            is missing.
    """
    if spec.placement == "process":
        return ChosenPlacement(
            InProcessPlacement(), None, 'rows in this process (placement="process")'
        )
    gaps = warehouse_gaps(spec, backend, store)
    if not gaps:
        staging = str(getattr(backend, "staging_uri", ""))
        return ChosenPlacement(WarehousePlacement(), staging, f"rows stay in BigQuery ({staging})")
    if spec.placement == "warehouse":
        raise ConfigError(f'pipeline {spec.name}: placement="warehouse", but {"; ".join(gaps)}')
    return ChosenPlacement(
        InProcessPlacement(), None, f"rows come through this process: {'; '.join(gaps)}"
    )


def placement_of(context: dg.AssetExecutionContext, spec: "EmbeddingPipeline") -> ChosenPlacement:
    """The placement of a run, from the resources it has bound; a refusal is a one-line failure."""
    backend = getattr(context.resources, spec.names.backend_key)
    store = getattr(context.resources, spec.names.store_key)
    try:
        return choose_placement(spec, backend, store)
    except ConfigError as error:
        raise to_failure(error) from error


def warehouse_corpus_outputs(
    context: dg.AssetExecutionContext,
    spec: "EmbeddingPipeline",
    config: RefreshConfig,
    staging_uri: str,
) -> Iterator[Any]:
    """The corpus asset's output and check results when the corpus is staged in BigQuery."""
    if not isinstance(spec.corpus, str | BigQueryQuery):
        raise ConfigError(
            f"pipeline {spec.name}: a warehouse-native corpus is a bq:// table or query"
        )
    project, _ = parse_dataset_uri(staging_uri.rstrip("/"))
    with bigquery_client(project=project) as client:
        try:
            corpus = stage_corpus(
                staging=BigQueryStorage(staging_uri, client),
                pipeline=spec.name,
                corpus=spec.corpus,
                columns=spec.columns,
                hash_prefix=hash_prefix(
                    model=spec.resolved_model,
                    task_type=spec.task_type,
                    output_dimensionality=spec.output_dimensionality,
                ),
                describe=spec.describe_source(),
                chunking=None
                if spec.chunking is None
                else ChunkingSQL(
                    max_tokens=chunk_budget(spec.chunking, model=spec.resolved_model),
                    overlap_tokens=spec.chunking.overlap_tokens,
                ),
            )
        except CorpusError as error:
            raise to_failure(error) from error
    by_reason = ", ".join(f"{k}: {v}" for k, v in sorted(corpus.rejected_by_reason.items()))
    chunked = f" (chunks of {corpus.documents} documents)" if spec.chunking is not None else ""
    context.log.info(
        f"{corpus.rows} rows{chunked} staged in {corpus.table} (validated, "
        f"{'chunked, ' if chunked else ''}hashed in BigQuery), "
        f"{corpus.accepted} accepted, {corpus.rejected} rejected"
        + (f" ({by_reason})" if by_reason else "")
    )
    with warnings.catch_warnings():  # Output(data_version=) is beta; users need not hear of it
        warnings.simplefilter("ignore", dg.BetaWarning)
        yield dg.Output(
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
                ),
                md.TABLE_NAME: dg.MetadataValue.text(corpus.table),
            },
        )
    yield rejected_rows_result(
        spec,
        rejected=corpus.rejected,
        rows=corpus.documents or corpus.rows,
        allowed=config.allow_rejected_rows,
    )
