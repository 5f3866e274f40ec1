"""Test doubles that are real servers: a Vertex AI batch prediction emulator and a GCS emulator.

`VertexEmulator` serves Vertex's `batchPredictionJobs` REST API on 127.0.0.1 and starts a
fake-gcs-server for Cloud Storage; point `VertexBatchBackend(api_endpoint=...)` and
`STORAGE_EMULATOR_HOST` at them. `embed_assets.testing.fixtures` has pytest fixtures.
"""

from embed_assets.testing.emulator import EMULATED_MODELS, VertexEmulator
from embed_assets.testing.faults import JobFault
from embed_assets.testing.gcs import GcsEmulator

__all__ = ["EMULATED_MODELS", "GcsEmulator", "JobFault", "VertexEmulator"]
