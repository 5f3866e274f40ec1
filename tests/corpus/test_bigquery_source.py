"""A corpus from BigQuery (table or query), read with the real client from the emulator."""

import pandas as pd
import pytest

from embed_assets.bigquery.client import bigquery_client, run_query
from embed_assets.corpus.bigquery_source import (
    BigQueryQuery,
    bigquery_fingerprint,
    read_bigquery_corpus,
)
from embed_assets.corpus.validation import CorpusColumns, CorpusError, validate_corpus
from embed_assets.testing.fixtures import BigQueryTestSpace
from tests.helpers import write_bigquery_table


def test_a_table_is_read_with_exact_ids_and_the_same_rejections_as_a_file(
    bigquery_emulator: BigQueryTestSpace,
) -> None:
    dataset = bigquery_emulator.dataset("raw")
    frame = pd.DataFrame(
        {
            "doc_id": pd.array([9007199254740993, 2, None, 4], dtype="Int64"),
            "body": ["big id", "   ", "no id", "fine"],
        }
    )
    uri = write_bigquery_table(f"{dataset}.docs", frame, project=bigquery_emulator.project)
    raw = read_bigquery_corpus(uri)
    validated = validate_corpus(
        raw, CorpusColumns(id_column="doc_id", text_column="body"), source=uri
    )
    accepted = validated.rows[validated.rows["reason"].isna()]
    assert sorted(accepted["id"]) == ["4", "9007199254740993"]
    assert sorted(validated.rejected["reason"]) == [
        "empty or whitespace-only content",
        "missing id",
    ]


def test_a_query_is_a_corpus_too(bigquery_emulator: BigQueryTestSpace) -> None:
    dataset = bigquery_emulator.dataset("raw")
    frame = pd.DataFrame(
        {"id": ["a", "b", "c"], "content": ["x", "y", "z"], "lang": ["en", "de", "en"]}
    )
    write_bigquery_table(f"{dataset}.docs", frame, project=bigquery_emulator.project)
    query = BigQueryQuery(
        sql=f"SELECT id, content FROM {dataset}.docs WHERE lang = 'en'",
        project=bigquery_emulator.project,
    )
    assert sorted(read_bigquery_corpus(query)["id"]) == ["a", "c"]


def test_a_missing_table_is_one_line(bigquery_emulator: BigQueryTestSpace) -> None:
    uri = f"bq://{bigquery_emulator.project}.{bigquery_emulator.dataset('raw')}.nothing"
    with pytest.raises(CorpusError, match=r"^corpus bq://\S+ does not exist$"):
        read_bigquery_corpus(uri)
    assert bigquery_fingerprint(uri) is None


def test_the_fingerprint_changes_when_the_table_or_a_queried_table_does(
    bigquery_emulator: BigQueryTestSpace,
) -> None:
    # built with SQL: the emulator reports "now" as the last-modified time of tables made by
    # load jobs (the real service keeps it); the fingerprint also counts rows and bytes,
    # because the emulator does not move that time on DML
    dataset, project = bigquery_emulator.dataset("raw"), bigquery_emulator.project
    with bigquery_client(project=project) as client:
        client.create_dataset(f"{project}.{dataset}")
        run_query(client, f"CREATE TABLE {dataset}.docs AS SELECT 'a' AS id")
        uri = f"bq://{project}.{dataset}.docs"
        query = BigQueryQuery(sql=f"SELECT id FROM {dataset}.docs", project=project)
        before = (bigquery_fingerprint(uri), bigquery_fingerprint(query))
        assert before == (bigquery_fingerprint(uri), bigquery_fingerprint(query))  # stable
        run_query(client, f"INSERT INTO {dataset}.docs VALUES ('b')")
    after = (bigquery_fingerprint(uri), bigquery_fingerprint(query))
    assert after[0] != before[0] and after[1] != before[1]
