"""embed_assets: Dagster assets that keep a text corpus embedded with Vertex AI batch prediction.

What a user imports is here; each name is explained in docs/public-api.md.
"""

from embed_assets.backends.base import BatchBackend, JobRequest, JobState, JobStatus
from embed_assets.backends.local.resource import LocalBatchBackend
from embed_assets.backends.vertex import VertexBatchBackend
from embed_assets.components.embedding_pipeline import EmbeddingPipelineComponent
from embed_assets.corpus.bigquery import BigQueryQuery
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
from embed_assets.pipeline.embedding_pipeline import EmbeddingPipeline
from embed_assets.pipeline.sensor import build_embedding_job_sensor
from embed_assets.pipeline.translator import AssetSpecTranslator
from embed_assets.predictions.readers import read_predictions
from embed_assets.store.base import EmbeddingStore, Warehouse
from embed_assets.store.bigquery import BigQueryEmbeddingStore
from embed_assets.store.duckdb import DuckDBEmbeddingStore

__version__ = "0.2.0"

__all__ = [
    "AssetSpecTranslator",
    "BackendError",
    "BackendUnavailable",
    "BatchBackend",
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
    "PreparedCorpus",
    "RefreshRefused",
    "Submission",
    "SubmissionHandler",
    "VertexBatchBackend",
    "Warehouse",
    "__version__",
    "build_embedding_job_sensor",
    "read_predictions",
]
