"""Where the rows live is declared (`placement`), and `auto` says why rows come through here."""

import dataclasses
from pathlib import Path

import pytest

from embed_assets import (
    BigQueryEmbeddingStore,
    DuckDBEmbeddingStore,
    EmbeddingPipeline,
    VertexBatchBackend,
)
from embed_assets.errors import ConfigError
from embed_assets.pipeline.placement import choose_placement


def _bigquery_pipeline(**options: object) -> EmbeddingPipeline:
    return EmbeddingPipeline(
        name="docs",
        corpus="bq://p.raw.docs",
        model="text-embedding-005",
        **options,  # type: ignore[arg-type]
    )


def test_auto_keeps_rows_in_bigquery_when_it_can_and_says_why_when_it_cannot(
    tmp_path: Path,
) -> None:
    backend = VertexBatchBackend(project="p", staging_uri="bq://p.staging")
    pipeline = _bigquery_pipeline()
    warehouse = choose_placement(
        pipeline, backend, BigQueryEmbeddingStore(project="p", dataset="e")
    )
    assert (warehouse.staging, warehouse.reason) == (
        "bq://p.staging",
        "rows stay in BigQuery (bq://p.staging)",
    )
    duckdb = DuckDBEmbeddingStore(path=str(tmp_path / "e.duckdb"))
    process = choose_placement(pipeline, backend, duckdb)
    assert process.staging is None
    assert process.reason == (
        "rows come through this process: the store (DuckDBEmbeddingStore) has no warehouse to "
        "land in with SQL"
    )
    with pytest.raises(ConfigError) as refused:
        choose_placement(dataclasses.replace(pipeline, placement="warehouse"), backend, duckdb)
    assert str(refused.value) == (
        'pipeline docs: placement="warehouse", but the store (DuckDBEmbeddingStore) has no '
        "warehouse to land in with SQL"
    )
    forced = choose_placement(
        dataclasses.replace(pipeline, placement="process"),
        backend,
        BigQueryEmbeddingStore(project="p", dataset="e"),
    )
    assert forced.staging is None


def test_an_unknown_placement_is_refused_where_it_is_given() -> None:
    with pytest.raises(
        ConfigError, match="placement='anywhere': one of 'auto', 'warehouse', 'process'"
    ):
        _bigquery_pipeline(placement="anywhere")
