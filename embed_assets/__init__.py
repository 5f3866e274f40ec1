"""embed_assets: Dagster assets that keep a text corpus embedded with Vertex AI batch prediction.

What a user imports is here; each name is explained in docs/public-api.md. The names are
imported from their modules on first use, so a process that needs only part of the package
(a batch job's worker) does not load Dagster and the Google clients to start.
"""

from typing import TYPE_CHECKING

from embed_assets.exports import lazy_exports

if TYPE_CHECKING:
    from embed_assets.backends.base import BatchBackend, JobRequest, JobState, JobStatus
    from embed_assets.backends.local.resource import LocalBatchBackend
    from embed_assets.backends.vertex import VertexBatchBackend
    from embed_assets.components.embedding_pipeline import EmbeddingPipelineComponent
    from embed_assets.corpus.bigquery_source import BigQueryQuery
    from embed_assets.corpus.chunking import Chunking
    from embed_assets.corpus.prepared import PreparedCorpus
    from embed_assets.errors import (
        BackendError,
        BackendUnavailable,
        EmbedAssetsError,
        RefreshRefused,
    )
    from embed_assets.jobs.handler import SubmissionHandler
    from embed_assets.jobs.record import Submission
    from embed_assets.models.catalog import BatchPrice, ModelSpec, PromptRule
    from embed_assets.pipeline.embedding_pipeline import EmbeddingPipeline
    from embed_assets.pipeline.sensor import build_embedding_job_sensor
    from embed_assets.pipeline.translator import AssetSpecTranslator
    from embed_assets.predictions.lines import RequestSchema
    from embed_assets.predictions.readers import read_predictions
    from embed_assets.store.base import EmbeddingStore, Warehouse
    from embed_assets.store.bigquery_store import BigQueryEmbeddingStore
    from embed_assets.store.duckdb import DuckDBEmbeddingStore

__version__ = "0.2.0"

# each public name and the module that defines it
_EXPORTS = {
    "AssetSpecTranslator": "embed_assets.pipeline.translator",
    "BackendError": "embed_assets.errors",
    "BackendUnavailable": "embed_assets.errors",
    "BatchBackend": "embed_assets.backends.base",
    "BatchPrice": "embed_assets.models.catalog",
    "BigQueryEmbeddingStore": "embed_assets.store.bigquery_store",
    "BigQueryQuery": "embed_assets.corpus.bigquery_source",
    "Chunking": "embed_assets.corpus.chunking",
    "DuckDBEmbeddingStore": "embed_assets.store.duckdb",
    "EmbedAssetsError": "embed_assets.errors",
    "EmbeddingPipeline": "embed_assets.pipeline.embedding_pipeline",
    "EmbeddingPipelineComponent": "embed_assets.components.embedding_pipeline",
    "EmbeddingStore": "embed_assets.store.base",
    "JobRequest": "embed_assets.backends.base",
    "JobState": "embed_assets.backends.base",
    "JobStatus": "embed_assets.backends.base",
    "LocalBatchBackend": "embed_assets.backends.local.resource",
    "ModelSpec": "embed_assets.models.catalog",
    "PreparedCorpus": "embed_assets.corpus.prepared",
    "PromptRule": "embed_assets.models.catalog",
    "RefreshRefused": "embed_assets.errors",
    "RequestSchema": "embed_assets.predictions.lines",
    "Submission": "embed_assets.jobs.record",
    "SubmissionHandler": "embed_assets.jobs.handler",
    "VertexBatchBackend": "embed_assets.backends.vertex",
    "Warehouse": "embed_assets.store.base",
    "build_embedding_job_sensor": "embed_assets.pipeline.sensor",
    "read_predictions": "embed_assets.predictions.readers",
}

__all__ = [
    "AssetSpecTranslator",
    "BackendError",
    "BackendUnavailable",
    "BatchBackend",
    "BatchPrice",
    "BigQueryEmbeddingStore",
    "BigQueryQuery",
    "Chunking",
    "DuckDBEmbeddingStore",
    "EmbedAssetsError",
    "EmbeddingPipeline",
    "EmbeddingPipelineComponent",
    "EmbeddingStore",
    "JobRequest",
    "JobState",
    "JobStatus",
    "LocalBatchBackend",
    "ModelSpec",
    "PreparedCorpus",
    "PromptRule",
    "RefreshRefused",
    "RequestSchema",
    "Submission",
    "SubmissionHandler",
    "VertexBatchBackend",
    "Warehouse",
    "__version__",
    "build_embedding_job_sensor",
    "read_predictions",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
