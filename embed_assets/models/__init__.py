"""Local embedding models used by the local batch backend (and the Vertex emulator)."""

from embed_assets.models.base import EmbeddingOutput, LocalEmbeddingModel
from embed_assets.models.registry import (
    LEXICAL_MODEL,
    MINILM_MODEL,
    default_local_model,
    load_local_model,
    local_model_names,
)

__all__ = [
    "LEXICAL_MODEL",
    "MINILM_MODEL",
    "EmbeddingOutput",
    "LocalEmbeddingModel",
    "default_local_model",
    "load_local_model",
    "local_model_names",
]
