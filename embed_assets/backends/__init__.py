"""Batch backends: where batch embedding jobs run (this machine, or Vertex AI)."""

from embed_assets.backends.base import (
    BackendError,
    BackendUnavailable,
    BatchBackend,
    JobError,
    JobRequest,
    JobState,
    JobStatus,
)
from embed_assets.backends.local import LocalBatchBackend
from embed_assets.backends.vertex import VertexBatchBackend

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "BatchBackend",
    "JobError",
    "JobRequest",
    "JobState",
    "JobStatus",
    "LocalBatchBackend",
    "VertexBatchBackend",
]
