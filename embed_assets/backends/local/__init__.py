"""The local batch backend: Vertex's job lifecycle on this machine, with a real local model."""

from embed_assets.backends.local.engine import LocalJobEngine
from embed_assets.backends.local.resource import LocalBatchBackend

__all__ = ["LocalBatchBackend", "LocalJobEngine"]
