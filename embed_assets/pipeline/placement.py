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

The assets have one body each and ask the chosen placement for their part: the corpus asset
for the corpus prepared where the rows live (`ChosenPlacement.prepare_corpus`), the batch job
for that corpus checked to be one its rows plan from (`checked`), every lifecycle step
for its `RowPlacement`.
"""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import dagster as dg
import pandas as pd

import embed_assets.pipeline.metadata as md
from embed_assets.backends.base import BatchBackend
from embed_assets.bigquery.client import bigquery_client, is_bigquery_uri, parse_dataset_uri
from embed_assets.corpus.bigquery_source import BigQueryQuery
from embed_assets.corpus.chunk_rows import chunk_budget
from embed_assets.corpus.hashing import hash_prefix
from embed_assets.corpus.prepared import PreparedCorpus, RowCounts
from embed_assets.errors import ConfigError, CorpusError, to_failure
from embed_assets.jobs.guard import RefreshLimits
from embed_assets.jobs.handler import SubmissionHandler
from embed_assets.jobs.rows import Log, RowPlacement
from embed_assets.jobs.settings import SubmissionSettings
from embed_assets.models.catalog import model_spec
from embed_assets.pipeline.prepared_files import prepare_into_instance, prepared_here
from embed_assets.placements.bigquery.chunking_sql import ChunkingSQL
from embed_assets.placements.bigquery.corpus import WarehouseCorpus, stage_corpus
from embed_assets.placements.bigquery.placement import WarehousePlacement
from embed_assets.placements.process.placement import InProcessPlacement
from embed_assets.predictions.lines import RequestSchema
from embed_assets.staging.bigquery_dataset import BigQueryStorage
from embed_assets.store.base import EmbeddingStore, store_warehouse

if TYPE_CHECKING:  # the pipeline builds these; they read it
    from embed_assets.pipeline.embedding_pipeline import EmbeddingPipeline

Placement = Literal["auto", "warehouse", "process"]
# what a placement's rows plan from: a `PreparedCorpus` here, a `WarehouseCorpus` in BigQuery
CorpusT = TypeVar("CorpusT")
PLACEMENTS: tuple[Placement, ...] = ("auto", "warehouse", "process")


def check_placement(placement: str) -> None:
    """Refuses a `placement` that is none of `PLACEMENTS`."""
    if placement not in PLACEMENTS:
        raise ConfigError(f"placement={placement!r}: one of {', '.join(map(repr, PLACEMENTS))}")


@dataclass(frozen=True)
class CorpusOutput:
    """A corpus prepared where its rows live, with what the corpus asset says of it.

    Attributes:
        corpus: the asset's value: a `PreparedCorpus` file, or a `WarehouseCorpus` table.
        summary: one log line: rows read, accepted and rejected, and where they are.
        location: where the rows are: the file's `dagster/uri`, or the staged table's name.
        columns: the prepared file's columns and their types (none for a staged table).
    """

    corpus: PreparedCorpus | WarehouseCorpus
    summary: str
    location: dict[str, Any]
    columns: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class CorpusToPlan(Generic[CorpusT]):
    """A corpus asset's output that a placement's rows plan from (`ChosenPlacement.checked`).

    Attributes:
        corpus: the prepared file or the staged table.
        rows: the placement the lifecycle asks for each step.
    """

    corpus: CorpusT
    rows: RowPlacement[CorpusT]

    def plan(
        self,
        *,
        backend: BatchBackend,
        store: EmbeddingStore,
        settings: SubmissionSettings,
        run_id: str,
        limits: RefreshLimits,
        log: Log,
    ) -> SubmissionHandler:
        """The refresh planned from this corpus (`SubmissionHandler.plan`).

        Raises:
            EmbedAssetsError: as `SubmissionHandler.plan` raises.
        """
        return SubmissionHandler.plan(
            backend=backend,
            store=store,
            corpus=self.corpus,
            settings=settings,
            run_id=run_id,
            limits=limits,
            log=log,
            placement=self.rows,
        )


class ChosenPlacement(ABC, Generic[CorpusT]):
    """Where a run's rows live: chosen from the pipeline's `placement` and its bound resources.

    Attributes:
        rows: the placement the lifecycle asks for each step.
        staging: the `bq://project.dataset` staging in the warehouse; None in the process.
        reason: why, in one line.
    """

    rows: RowPlacement[CorpusT]
    staging: str | None
    reason: str

    @abstractmethod
    def prepare_corpus(
        self, spec: "EmbeddingPipeline", *, instance_root: str, upstream: pd.DataFrame | None
    ) -> CorpusOutput:
        """The pipeline's corpus, validated and hashed (and chunked) where the rows live.

        Raises:
            CorpusError: the corpus cannot be read, or a named column is missing.
        """

    def checked(
        self, corpus: object, spec: "EmbeddingPipeline", *, instance_root: str
    ) -> "CorpusToPlan[CorpusT]":
        """The corpus asset's output checked (`corpus_to_plan`), with the rows that plan from it.

        Raises:
            CorpusError: the output is not what these rows plan from.
        """
        return CorpusToPlan(
            corpus=self.corpus_to_plan(corpus, spec, instance_root=instance_root), rows=self.rows
        )

    @abstractmethod
    def corpus_to_plan(
        self, corpus: object, spec: "EmbeddingPipeline", *, instance_root: str
    ) -> CorpusT:
        """The corpus asset's output, as these rows plan from it.

        Raises:
            CorpusError: it was prepared for the other placement, or cannot be used here.
        """


@dataclass(frozen=True)
class InProcess(ChosenPlacement[PreparedCorpus]):
    """Rows in this process: the corpus is a prepared Parquet file below the instance."""

    reason: str
    rows: InProcessPlacement = field(default_factory=InProcessPlacement)
    staging: None = None

    def prepare_corpus(
        self, spec: "EmbeddingPipeline", *, instance_root: str, upstream: pd.DataFrame | None
    ) -> CorpusOutput:
        """The corpus prepared into a file below the instance (`prepare_into_instance`)."""
        prepared = prepare_into_instance(spec, instance_root, upstream=upstream)
        chunked = f" (chunks of {prepared.documents} documents)" if prepared.chunked else ""
        return CorpusOutput(
            corpus=prepared,
            summary=f"{prepared.rows} rows{chunked} read, {_accepted_and_rejected(prepared)}",
            location={md.URI: dg.MetadataValue.path(prepared.path)},
            columns=md.file_columns(prepared.path),
        )

    def corpus_to_plan(
        self, corpus: object, spec: "EmbeddingPipeline", *, instance_root: str
    ) -> PreparedCorpus:
        """The prepared file, prepared again here when it is on another machine."""
        if not isinstance(corpus, PreparedCorpus):
            raise CorpusError(_other_placement(corpus, spec, self.reason))
        return prepared_here(corpus, spec, instance_root)


@dataclass(frozen=True)
class InWarehouse(ChosenPlacement[WarehouseCorpus]):
    """Rows in BigQuery: the corpus is a table staged, validated and hashed there."""

    staging: str
    reason: str
    rows: WarehousePlacement = field(default_factory=WarehousePlacement)

    def prepare_corpus(
        self, spec: "EmbeddingPipeline", *, instance_root: str, upstream: pd.DataFrame | None
    ) -> CorpusOutput:
        """The corpus staged in BigQuery by SQL jobs (`placements.bigquery.corpus.stage_corpus`)."""
        corpus = _staged(spec, self.staging)
        chunked = f" (chunks of {corpus.documents} documents)" if spec.chunking is not None else ""
        return CorpusOutput(
            corpus=corpus,
            summary=f"{corpus.rows} rows{chunked} staged in {corpus.table} (validated, "
            f"{'chunked, ' if chunked else ''}hashed in BigQuery), "
            f"{_accepted_and_rejected(corpus)}",
            location={md.TABLE_NAME: dg.MetadataValue.text(corpus.table)},
        )

    def corpus_to_plan(
        self, corpus: object, spec: "EmbeddingPipeline", *, instance_root: str
    ) -> WarehouseCorpus:
        """The staged table."""
        if not isinstance(corpus, WarehouseCorpus):
            raise CorpusError(_other_placement(corpus, spec, self.reason))
        return corpus


def _accepted_and_rejected(corpus: RowCounts) -> str:
    """`A accepted, R rejected (reason: n, ...)`, the reasons in order (none: no brackets)."""
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(corpus.rejected_by_reason.items()))
    return f"{corpus.accepted} accepted, {corpus.rejected} rejected" + (
        f" ({reasons})" if reasons else ""
    )


def _other_placement(corpus: object, spec: "EmbeddingPipeline", reason: str) -> str:
    where = "in BigQuery" if isinstance(corpus, WarehouseCorpus) else "in this process"
    return (
        f"the corpus was prepared {where}, but this run's {reason}; "
        f"materialize {spec.corpus_key.to_user_string()} again"
    )


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
) -> InProcess | InWarehouse:
    """Where the rows live with the resources a run has bound.

    Raises:
        ConfigError: `placement="warehouse"` with resources that cannot do it, naming what
            is missing.
    """
    if spec.placement == "process":
        return InProcess('rows in this process (placement="process")')
    gaps = warehouse_gaps(spec, backend, store)
    if not gaps:
        staging = str(getattr(backend, "staging_uri", ""))
        return InWarehouse(staging, f"rows stay in BigQuery ({staging})")
    if spec.placement == "warehouse":
        raise ConfigError(f'pipeline {spec.name}: placement="warehouse", but {"; ".join(gaps)}')
    return InProcess(f"rows come through this process: {'; '.join(gaps)}")


def placement_of(
    context: dg.AssetExecutionContext, spec: "EmbeddingPipeline"
) -> InProcess | InWarehouse:
    """The placement of a run, from the resources it has bound; a refusal is a one-line failure."""
    backend = getattr(context.resources, spec.names.backend_key)
    store = getattr(context.resources, spec.names.store_key)
    try:
        return choose_placement(spec, backend, store)
    except ConfigError as error:
        raise to_failure(error) from error


def _staged(spec: "EmbeddingPipeline", staging_uri: str) -> WarehouseCorpus:
    """The pipeline's BigQuery corpus staged (validated, hashed, chunked) in `staging_uri`."""
    if not isinstance(spec.corpus, str | BigQueryQuery):
        raise ConfigError(
            f"pipeline {spec.name}: a warehouse-native corpus is a bq:// table or query"
        )
    project, _ = parse_dataset_uri(staging_uri.rstrip("/"))
    with bigquery_client(project=project) as client:
        return stage_corpus(
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
