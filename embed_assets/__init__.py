"""embed_assets: Dagster assets that keep a text corpus embedded with Vertex AI batch prediction."""

from embed_assets.backends.base import (
    BackendError,
    BackendUnavailable,
    BatchBackend,
    JobRequest,
    JobState,
    JobStatus,
)
from embed_assets.backends.local import LocalBatchBackend
from embed_assets.backends.vertex import VertexBatchBackend
from embed_assets.components import EmbeddingPipelineComponent
from embed_assets.corpus.bigquery import BigQueryQuery
from embed_assets.jobs.handler import SubmissionHandler
from embed_assets.jobs.record import Submission
from embed_assets.pipeline.embedding_pipeline import EmbeddingPipeline
from embed_assets.pipeline.sensor import build_embedding_job_sensor
from embed_assets.predictions.readers import read_predictions
from embed_assets.store.base import EmbeddingStore
from embed_assets.store.bigquery import BigQueryEmbeddingStore
from embed_assets.store.duckdb import DuckDBEmbeddingStore

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "BatchBackend",
    "BigQueryEmbeddingStore",
    "BigQueryQuery",
    "DuckDBEmbeddingStore",
    "EmbeddingPipeline",
    "EmbeddingPipelineComponent",
    "EmbeddingStore",
    "JobRequest",
    "JobState",
    "JobStatus",
    "LocalBatchBackend",
    "Submission",
    "SubmissionHandler",
    "VertexBatchBackend",
    "__version__",
    "build_embedding_job_sensor",
    "read_predictions",
]
