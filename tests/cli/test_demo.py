"""The demo corpus and the downstream nearest-neighbours computation."""

import re

import dagster as dg
import numpy as np
import pytest

from embed_assets.cli.demo import build_neighbours_asset, nearest_neighbours, stdlib_docstrings
from tests.helpers import make_corpus


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


@pytest.mark.e2e  # lands a table first
def test_the_neighbours_table_shows_its_columns_and_similarities_to_three_places(
    instance: dg.DagsterInstance, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    pipeline, defs = build(corpus_file(make_corpus(8)))
    run(pipeline, defs)
    key = pipeline.names.store_key
    asset = build_neighbours_asset(
        embeddings_key=pipeline.embeddings_key, pipeline_name="docs", store_key=key
    )
    result = dg.materialize([asset], resources={key: defs.resources[key]}, instance=instance)
    (materialization,) = result.asset_materializations_for_node(asset.node_def.name)
    schema = materialization.metadata["dagster/column_schema"].value
    assert isinstance(schema, dg.TableSchema)
    assert [(c.name, c.type) for c in schema.columns] == [
        ("id", "VARCHAR"),
        ("rank", "BIGINT"),
        ("neighbour_id", "VARCHAR"),
        ("similarity", "FLOAT"),
    ]
    preview = str(materialization.metadata["preview"].value)
    similarities = [line.rsplit("|", 2)[-2].strip() for line in preview.splitlines()[2:]]
    assert similarities and all(re.fullmatch(r"-?\d\.\d{1,3}|-?\d", s) for s in similarities)
