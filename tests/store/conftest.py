from collections.abc import Iterator
from pathlib import Path

import pytest

from embed_assets import DuckDBEmbeddingStore
from embed_assets.store.base import EmbeddingStore
from embed_assets.store.bigquery_store import BigQueryEmbeddingStore
from embed_assets.testing.fixtures import BigQueryTestSpace


@pytest.fixture(params=["duckdb", "bigquery"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmbeddingStore]:
    """Each store in turn: a DuckDB file, and a dataset of the BigQuery emulator."""
    if request.param == "duckdb":
        yield DuckDBEmbeddingStore(path=str(tmp_path / "e.duckdb"))
        return
    space: BigQueryTestSpace = request.getfixturevalue("bigquery_emulator")
    yield BigQueryEmbeddingStore(project=space.project, dataset=space.dataset("embeddings"))
