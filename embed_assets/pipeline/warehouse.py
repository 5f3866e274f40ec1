"""When a pipeline runs warehouse-native, and its corpus asset in that mode.

A pipeline is warehouse-native when its corpus is a BigQuery table or query, its backend is
Vertex with `bq://` staging, its table is a `BigQueryEmbeddingStore` and its model reads
BigQuery (the legacy embedding models). Then the corpus asset validates and hashes in BigQuery
and outputs a `WarehouseCorpus` (the staged table's address and counts) instead of rows; the
batch-job and embeddings assets plan, submit and land with SQL.
"""

import warnings
from collections.abc import Iterator
from typing import Any

import dagster as dg

import embed_assets.pipeline.metadata as md
from embed_assets.backends.base import BatchBackend
from embed_assets.backends.vertex import VertexBatchBackend
from embed_assets.bigquery_client import bigquery_client, is_bigquery_uri, parse_dataset_uri
from embed_assets.bigquery_staging import BigQueryStorage
from embed_assets.corpus.bigquery import BigQueryQuery
from embed_assets.corpus.hashing import hash_prefix
from embed_assets.corpus.validation import CorpusError
from embed_assets.models.catalog import model_spec
from embed_assets.pipeline.checks import rejected_rows_result
from embed_assets.pipeline.config import RefreshConfig
from embed_assets.pipeline.spec import PipelineSpec
from embed_assets.predictions.lines import RequestSchema
from embed_assets.store.base import EmbeddingStore
from embed_assets.store.bigquery import BigQueryEmbeddingStore
from embed_assets.warehouse.corpus import stage_corpus


def warehouse_staging(
    spec: PipelineSpec, backend: BatchBackend | None, store: EmbeddingStore | None
) -> str | None:
    """The `bq://project.dataset` staging of a warehouse-native pipeline, else None."""
    corpus = spec.corpus
    in_bigquery = isinstance(corpus, BigQueryQuery) or (
        isinstance(corpus, str) and is_bigquery_uri(corpus)
    )
    if not (
        in_bigquery
        and isinstance(store, BigQueryEmbeddingStore)
        and isinstance(backend, VertexBatchBackend)
        and is_bigquery_uri(backend.staging_uri)
        and model_spec(spec.resolved_model).schema is RequestSchema.LEGACY
    ):
        return None
    return backend.staging_uri


def warehouse_corpus_outputs(
    context: dg.AssetExecutionContext, spec: PipelineSpec, config: RefreshConfig, staging_uri: str
) -> Iterator[Any]:
    """The corpus asset's output and check results when the corpus is staged in BigQuery."""
    assert isinstance(spec.corpus, str | BigQueryQuery)
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
            )
        except CorpusError as error:
            raise dg.Failure(description=str(error)) from error
    by_reason = ", ".join(f"{k}: {v}" for k, v in sorted(corpus.rejected_by_reason.items()))
    context.log.info(
        f"{corpus.rows} rows staged in {corpus.table} (validated and hashed in BigQuery), "
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
                "dagster/uri": dg.MetadataValue.path(corpus.table),
            },
        )
    yield rejected_rows_result(
        spec, rejected=corpus.rejected, rows=corpus.rows, allowed=config.allow_rejected_rows
    )
