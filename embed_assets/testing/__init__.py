"""Test doubles that are real servers, and every fault knob.

`VertexEmulator` serves Vertex's `batchPredictionJobs` REST API on 127.0.0.1 and starts a
fake-gcs-server for Cloud Storage; point `VertexBatchBackend(api_endpoint=...)` and
`STORAGE_EMULATOR_HOST` at them. `FaultyLocalBatchBackend` is the local backend with slow or
failing jobs. `embed_assets.testing.fixtures` has pytest fixtures. The names are imported on
first use, so the command line's `emulator` command costs the other commands nothing.
"""

from typing import TYPE_CHECKING

from embed_assets.exports import lazy_exports

if TYPE_CHECKING:
    from embed_assets.testing.emulator import EMULATED_MODELS, VertexEmulator
    from embed_assets.testing.faults import JobFault
    from embed_assets.testing.gcs import GcsEmulator
    from embed_assets.testing.local import FaultyLocalBatchBackend

_EXPORTS = {
    "EMULATED_MODELS": "embed_assets.testing.emulator",
    "FaultyLocalBatchBackend": "embed_assets.testing.local",
    "GcsEmulator": "embed_assets.testing.gcs",
    "JobFault": "embed_assets.testing.faults",
    "VertexEmulator": "embed_assets.testing.emulator",
}

__all__ = [
    "EMULATED_MODELS",
    "FaultyLocalBatchBackend",
    "GcsEmulator",
    "JobFault",
    "VertexEmulator",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
