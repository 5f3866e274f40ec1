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
from embed_assets.formats import read_predictions
from embed_assets.pipeline import EmbeddingPipeline
from embed_assets.sensor import build_embedding_job_sensor
from embed_assets.store.base import EmbeddingStore
from embed_assets.store.duckdb import DuckDBEmbeddingStore
from embed_assets.submission import Submission

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "BatchBackend",
    "DuckDBEmbeddingStore",
    "EmbeddingPipeline",
    "EmbeddingStore",
    "JobRequest",
    "JobState",
    "JobStatus",
    "LocalBatchBackend",
    "Submission",
    "VertexBatchBackend",
    "build_embedding_job_sensor",
    "read_predictions",
]
