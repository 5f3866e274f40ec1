"""The demo corpus and the downstream nearest-neighbours computation."""

import numpy as np

from embed_assets.cli.demo import nearest_neighbours, stdlib_docstrings


def test_stdlib_corpus_has_a_few_thousand_documented_names() -> None:
    corpus = stdlib_docstrings()
    assert len(corpus) > 2000
    assert corpus["id"].is_unique
    assert "json.loads" in set(corpus["id"])
    assert (corpus["content"].str.len() >= 20).all()


def test_nearest_neighbours_excludes_self_and_orders_by_similarity() -> None:
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    index, score = nearest_neighbours(vectors, k=2)
    assert index[0].tolist() == [1, 3]
    assert index[2].tolist() == [3, 1]
    assert (score[:, 0] >= score[:, 1]).all()
