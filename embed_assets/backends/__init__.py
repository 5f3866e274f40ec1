"""Batch backends: where batch embedding jobs run."""

from embed_assets.backends.base import BatchBackend, JobError, JobRequest, JobState, JobStatus
from embed_assets.backends.local import LocalBatchBackend

__all__ = [
    "BatchBackend",
    "JobError",
    "JobRequest",
    "JobState",
    "JobStatus",
    "LocalBatchBackend",
]
