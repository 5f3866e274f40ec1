"""A deterministic, dependency-free lexical embedder: hashed word and word-pair features.

It is not a semantic model, but texts sharing words get similar vectors, which is enough
for fast tests and for running the pipeline where the `local` extra is not installed.
"""

import re
import zlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from embed_assets.models.base import EmbeddingOutput

_WORD = re.compile(r"\w+", re.UNICODE)
_SYMBOLS = re.compile(r"[^\w\s]+")


class LexicalHashingModel:
    """Signed feature hashing of lowercase words and adjacent word pairs, L2-normalized."""

    name = "lexical-hash"
    max_input_tokens = 2048

    def __init__(self, *, dimension: int = 256) -> None:
        """Creates the model.

        Args:
            dimension: native vector length; any positive value works.
        """
        self.dimension = dimension

    def _tokens(self, text: str) -> list[str]:
        # a text of symbols only (a rule `----`, a table border) is read as its symbol runs, as
        # a real model reads any visible text, rather than given a zero vector
        return _WORD.findall(text.lower()) or _SYMBOLS.findall(text)

    def count_tokens(self, texts: Sequence[str]) -> npt.NDArray[np.int64]:
        """Returns the number of words of each text."""
        return np.fromiter((len(self._tokens(t)) for t in texts), dtype=np.int64, count=len(texts))

    def embed(
        self,
        texts: Sequence[str],
        *,
        titles: Sequence[str] | None = None,
        task_type: str | None = None,
        output_dimensionality: int | None = None,
    ) -> EmbeddingOutput:
        """Embeds texts; a title counts as extra words of its text."""
        dim = output_dimensionality or self.dimension
        vectors = np.zeros((len(texts), dim), dtype=np.float32)
        counts = np.zeros(len(texts), dtype=np.int64)
        truncated = np.zeros(len(texts), dtype=np.bool_)
        for row, text in enumerate(texts):
            title = titles[row] if titles is not None else ""
            words = self._tokens(f"{title} {text}" if title else text)
            counts[row] = len(words)
            if len(words) > self.max_input_tokens:
                words = words[: self.max_input_tokens]
                truncated[row] = True
            features = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
            for feature in features:
                digest = zlib.crc32(feature.encode())
                sign = 1.0 if digest & 0x80000000 else -1.0
                vectors[row, digest % dim] += sign
            norm = float(np.linalg.norm(vectors[row]))
            if norm > 0:
                vectors[row] /= norm
        return EmbeddingOutput(vectors=vectors, token_counts=counts, truncated=truncated)
