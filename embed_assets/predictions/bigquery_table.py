"""Reading a BigQuery prediction table: the input columns, `predictions` (a JSON string), `status`.

A batch job with BigQuery output writes one row per prompt: the prompts table's columns
(`content`, `task_type`, `title`, and whatever else it had, such as `key`), `predictions` as a
JSON **string** (`[{"embeddings": {"statistics": {...}, "values": [...]}}]`; one copy of the
docs spells it `Values`), and `status` ("" when the row succeeded). The table is read page by
page over REST; DuckDB parses each page's JSON into a float column, and a page it cannot type
goes through the line parser, which accepts every variant and names the offending row.
"""

from collections.abc import Iterator

import duckdb
import orjson
import pyarrow as pa
from google.cloud import bigquery

from embed_assets.bigquery.client import parse_table_uri
from embed_assets.predictions.columns import batch_from_table
from embed_assets.predictions.lines import PredictionBatch, concat_batches, parse_prediction_lines

PAGE_ROWS = 5_000  # about 80 MB of JSON text per page at 768 values a row
READER_MEMORY_LIMIT = "256MB"
_STATISTICS_SHAPE = '{"token_count": "BIGINT", "truncated": "BOOLEAN"}'


def _text(columns: set[str], name: str) -> str:
    return f"CAST({name} AS VARCHAR)" if name in columns else "CAST(NULL AS VARCHAR)"


def _select(columns: set[str]) -> str:
    """The typed read of one page: the same columns `batch_from_table` takes from JSONL."""
    return f"""
        WITH parsed AS (
            SELECT *,
                json_transform(coalesce(
                    json_extract(predictions, '$[0].embeddings.values'),
                    json_extract(predictions, '$[0].embeddings.Values')
                ), '["FLOAT"]') AS v,
                json_transform(
                    json_extract(predictions, '$[0].embeddings.statistics'), '{_STATISTICS_SHAPE}'
                ) AS stats
            FROM page
        )
        SELECT
            coalesce({_text(columns, "key")}, '') AS key,
            coalesce({_text(columns, "content")}, '') AS content,
            {_text(columns, "title")} AS title,
            {_text(columns, "task_type")} AS task_type,
            v AS vector,
            coalesce(stats.token_count, 0) AS token_count,
            coalesce(stats.truncated, false) AS truncated,
            {"to_json(status)" if "status" in columns else "CAST(NULL AS VARCHAR)"} AS status,
            CAST(NULL AS VARCHAR) AS error
        FROM parsed
    """


def parse_prediction_rows(page: pa.Table, *, lenient: bool = False) -> PredictionBatch:
    """Parses rows of a BigQuery prediction table (as Arrow) into a `PredictionBatch`.

    Raises:
        ValueError: (not lenient) a row is not readable, or vectors disagree on their length.
    """
    if "predictions" in page.column_names:
        connection = duckdb.connect(config={"memory_limit": READER_MEMORY_LIMIT})
        try:
            connection.register("page", page)
            typed = connection.sql(_select(set(page.column_names))).to_arrow_table()
            batch = batch_from_table(typed)
        except duckdb.Error:
            batch = None
        finally:
            connection.close()
        if batch is not None:
            return batch
    lines = (orjson.dumps(row) for row in page.to_pylist())
    return parse_prediction_lines(lines, lenient=lenient)


def iter_prediction_pages(client: bigquery.Client, uri: str) -> Iterator[pa.Table]:
    """Yields a prediction table (`bq://project.dataset.table`) as Arrow, one page at a time."""
    table = client.get_table(parse_table_uri(uri).qualified)
    rows = client.list_rows(table, page_size=PAGE_ROWS)
    for batch in rows.to_arrow_iterable():
        yield pa.Table.from_batches([batch])


def read_prediction_table(
    client: bigquery.Client, uri: str, *, lenient: bool = False
) -> PredictionBatch:
    """Reads a whole BigQuery prediction table into one `PredictionBatch`.

    Memory holds the table's vectors (one job's, at most 30,000 rows) and one page of JSON.
    """
    return concat_batches(
        parse_prediction_rows(page, lenient=lenient) for page in iter_prediction_pages(client, uri)
    )
