"""What a local embedding model offers the batch workers."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class EmbeddingOutput:
    """Vectors for a batch of texts, with the per-text statistics Vertex reports.

    Attributes:
        vectors: float32 matrix, one row per input text.
        token_counts: tokens the model saw in each text (before truncation).
        truncated: whether each text was cut to the model's input limit.
    """

    vectors: npt.NDArray[np.float32]
    token_counts: npt.NDArray[np.int64]
    truncated: npt.NDArray[np.bool_]


class LocalEmbeddingModel(Protocol):
    """A model that embeds text on this machine."""

    name: str
    dimension: int
    max_input_tokens: int

    def count_tokens(self, texts: Sequence[str]) -> npt.NDArray[np.int64]:
        """Returns the number of tokens of each text, without truncation."""
        ...

    def embed(
        self,
        texts: Sequence[str],
        *,
        titles: Sequence[str] | None = None,
        task_type: str | None = None,
        output_dimensionality: int | None = None,
    ) -> EmbeddingOutput:
        """Embeds texts; long texts are truncated to `max_input_tokens`."""
        ...


def truncate_dimensions(
    vectors: npt.NDArray[np.float32], output_dimensionality: int | None
) -> npt.NDArray[np.float32]:
    """Keeps the first `output_dimensionality` components and renormalizes to unit length."""
    if output_dimensionality is None or output_dimensionality == vectors.shape[1]:
        return vectors
    cut = np.ascontiguousarray(vectors[:, :output_dimensionality])
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (cut / norms).astype(np.float32, copy=False)
