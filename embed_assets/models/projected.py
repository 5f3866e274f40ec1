"""Emulated service models: a local model's vectors projected to a Vertex model's dimension.

The Vertex emulator answers for `text-embedding-005` (768-d) or `gemini-embedding-001`
(3072-d) with a fixed random projection of a local model's vector, so neighbourhoods are the
local model's and lengths are the service's. These vectors are emulated, not Google's.
"""

import zlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from embed_assets.models.base import EmbeddingOutput, LocalEmbeddingModel, truncate_dimensions


class ProjectedModel:
    """Wraps a local model and maps its vectors to `dimension` values with a fixed projection.

    Args:
        base: the local model that embeds the text.
        name: the emulated model's name; it seeds the projection, so vectors are deterministic.
        dimension: the emulated model's vector length.
    """

    def __init__(self, base: LocalEmbeddingModel, *, name: str, dimension: int) -> None:
        self.base = base
        self.name = name
        self.dimension = dimension
        self.max_input_tokens = base.max_input_tokens
        seed = zlib.crc32(f"{name}|{base.name}".encode())
        rng = np.random.default_rng(seed)
        self._projection = rng.standard_normal((base.dimension, dimension)).astype(np.float32)

    def count_tokens(self, texts: Sequence[str]) -> npt.NDArray[np.int64]:
        """Returns the base model's token counts."""
        return self.base.count_tokens(texts)

    def embed(
        self,
        texts: Sequence[str],
        *,
        titles: Sequence[str] | None = None,
        task_type: str | None = None,
        output_dimensionality: int | None = None,
    ) -> EmbeddingOutput:
        """Embeds with the base model, projects, normalizes, then keeps the first dimensions."""
        native = self.base.embed(texts, titles=titles, task_type=task_type)
        projected = native.vectors @ self._projection
        norms = np.linalg.norm(projected, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        vectors = (projected / norms).astype(np.float32, copy=False)
        return EmbeddingOutput(
            vectors=truncate_dimensions(vectors, output_dimensionality),
            token_counts=native.token_counts,
            truncated=native.truncated,
        )
