"""Test doubles that are real servers, and every fault knob.

`VertexEmulator` serves Vertex's `batchPredictionJobs` REST API on 127.0.0.1 and starts a
fake-gcs-server for Cloud Storage; point `VertexBatchBackend(api_endpoint=...)` and
`STORAGE_EMULATOR_HOST` at them. `FaultyLocalBatchBackend` is the local backend with slow or
failing jobs. `embed_assets.testing.fixtures` has pytest fixtures.
"""

from embed_assets.testing.emulator import EMULATED_MODELS, VertexEmulator
from embed_assets.testing.faults import JobFault
from embed_assets.testing.gcs import GcsEmulator
from embed_assets.testing.local import FaultyLocalBatchBackend

__all__ = [
    "EMULATED_MODELS",
    "FaultyLocalBatchBackend",
    "GcsEmulator",
    "JobFault",
    "VertexEmulator",
]
