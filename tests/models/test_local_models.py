"""The local models: the lexical hashing embedder and all-MiniLM-L6-v2."""

import numpy as np
import pytest

from embed_assets.models.registry import (
    LEXICAL_MODEL,
    MINILM_MODEL,
    load_local_model,
    minilm_available,
)


def test_lexical_model_is_deterministic_normalized_and_lexically_similar() -> None:
    model = load_local_model(LEXICAL_MODEL)
    texts = ["parse a date string", "parse a date", "boil the kettle for tea"]
    first = model.embed(texts)
    again = model.embed(texts)
    assert np.array_equal(first.vectors, again.vectors)
    assert first.vectors.shape == (3, 256)
    assert np.allclose(np.linalg.norm(first.vectors, axis=1), 1.0, atol=1e-5)
    sims = first.vectors @ first.vectors.T
    assert sims[0, 1] > sims[0, 2]
    assert first.token_counts.tolist() == [4, 3, 5]


def test_lexical_model_truncates_long_texts_and_reports_it() -> None:
    model = load_local_model(LEXICAL_MODEL)
    out = model.embed(["word " * 3000, "short"])
    assert out.truncated.tolist() == [True, False]
    assert out.token_counts[0] == 3000


@pytest.mark.minilm
@pytest.mark.skipif(not minilm_available(), reason="the local extra is not installed")
def test_minilm_embeds_384_d_semantic_vectors() -> None:
    model = load_local_model(MINILM_MODEL)
    out = model.embed(
        ["How do I parse a date?", "Convert a string to a datetime", "A recipe for bread"]
    )
    assert out.vectors.shape == (3, 384)
    sims = out.vectors @ out.vectors.T
    assert sims[0, 1] > sims[0, 2]
