"""Staging a corpus in the BigQuery emulator, as the warehouse-native corpus asset does."""

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from embed_assets.bigquery.client import bigquery_client, query_frame
from embed_assets.corpus.bigquery_source import BigQueryQuery
from embed_assets.corpus.validation import CorpusColumns
from embed_assets.placements.bigquery.chunking_sql import ChunkingSQL
from embed_assets.placements.bigquery.corpus import WarehouseCorpus, stage_corpus
from embed_assets.staging.bigquery_dataset import BigQueryStorage
from embed_assets.testing.fixtures import BigQueryTestSpace

Stage = Callable[..., tuple[WarehouseCorpus, pd.DataFrame]]


@pytest.fixture
def stage(bigquery_emulator: BigQueryTestSpace) -> Stage:
    """`stage(corpus, columns, hash_prefix=..., chunking=None)`: the staged corpus and its rows."""
    space = bigquery_emulator

    def run(
        corpus: str | BigQueryQuery,
        columns: CorpusColumns,
        *,
        hash_prefix: str,
        chunking: ChunkingSQL | None = None,
    ) -> tuple[WarehouseCorpus, pd.DataFrame]:
        with bigquery_client(project=space.project) as client:
            dataset = space.dataset("stage")
            client.create_dataset(f"{space.project}.{dataset}", exists_ok=True)
            staged = stage_corpus(
                staging=BigQueryStorage(f"bq://{space.project}.{dataset}", client),
                pipeline="docs",
                corpus=corpus,
                columns=columns,
                hash_prefix=hash_prefix,
                describe="t",
                chunking=chunking,
            )
            rows: Any = query_frame(client, f"SELECT * FROM `{staged.table[5:]}`")
        return staged, rows

    return run
