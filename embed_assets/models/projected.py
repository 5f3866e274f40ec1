"""Emulated service models: a local model's vectors projected to a Vertex model's dimension.

The Vertex emulator answers for `text-embedding-005` (768-d) or `gemini-embedding-001`
(3072-d) with a fixed random projection of a local model's vector, so neighbourhoods are the
local model's and lengths are the service's. These vectors are emulated, not Google's. So are
the token counts: as a SentencePiece vocabulary splits text, about four letters of an ASCII
word a token and a token for each other character that is not white space (Chinese,
Japanese and Korean text run near a token a character); a text over the emulated model's
input limit is reported `truncated`.
"""

import re
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

    def __init__(
        self,
        base: LocalEmbeddingModel,
        *,
        name: str,
        dimension: int,
        max_input_tokens: int | None = None,
    ) -> None:
        self.base = base
        self.name = name
        self.dimension = dimension
        self.emulates_tokens = max_input_tokens is not None
        self.max_input_tokens = max_input_tokens or base.max_input_tokens
        seed = zlib.crc32(f"{name}|{base.name}".encode())
        rng = np.random.default_rng(seed)
        self._projection = rng.standard_normal((base.dimension, dimension)).astype(np.float32)

    def count_tokens(self, texts: Sequence[str]) -> npt.NDArray[np.int64]:
        """Returns the emulated model's token counts (the base model's, without an input limit)."""
        if not self.emulates_tokens:
            return self.base.count_tokens(texts)
        return np.array([emulated_token_count(text) for text in texts], dtype=np.int64)

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
        if not self.emulates_tokens:
            counts, truncated = native.token_counts, native.truncated
        else:
            counts = self.count_tokens(texts)
            truncated = counts > self.max_input_tokens
        return EmbeddingOutput(
            vectors=truncate_dimensions(vectors, output_dimensionality),
            token_counts=counts,
            truncated=truncated,
        )


_ASCII_WORD = re.compile(r"[A-Za-z]+")
_OTHER = re.compile(r"[^A-Za-z\s]")


def emulated_token_count(text: str) -> int:
    """The emulator's token count of a text (see the module docstring)."""
    words = sum(-(-len(word) // 4) for word in _ASCII_WORD.findall(text))
    return words + len(_OTHER.findall(text))
