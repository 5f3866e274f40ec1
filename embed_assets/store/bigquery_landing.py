"""`BigQueryWarehouse`: the BigQuery store's SQL face (`store.base.Warehouse`), for landing.

When a job's predictions are a BigQuery table and the embedding table is in BigQuery too, the
vectors never leave BigQuery: one MERGE parses the `predictions` JSON strings (`values` or
`Values`), checks each vector as the Python landing does (the row's status, its length, finite
values, not all zeros) and upserts the good rows under every id that shares the text. Only the
content hashes and the reasons rows failed come back to the process.

The prediction table joins the submission on its `key` column (the content hash the prompts
table carried); a table without one is landed by the Python reader instead.
"""

from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any, Protocol

import pandas as pd
from google.cloud import bigquery

from embed_assets.bigquery.client import parse_table_uri, query_rows, run_query, scratch_table
from embed_assets.store.base import TableLanding, keys_and_positions
from embed_assets.store.bigquery_tables import COPY_BY_HASH_SQL, KEY_FIELDS

# one row per prediction row: its hash, vector, tokens, and "" or the reason it cannot land
CHECKED_SQL = """
SELECT content_hash, embedding, token_count, truncated, CASE
    WHEN COALESCE(status, '') != '' THEN status
    WHEN ARRAY_LENGTH(embedding) = 0 THEN 'prediction line carries no embedding values'
    WHEN ARRAY_LENGTH(embedding) != @dimension THEN
        FORMAT('vector has %d values, expected %d', ARRAY_LENGTH(embedding), @dimension)
    WHEN (SELECT LOGICAL_OR(IS_NAN(x) OR IS_INF(x)) FROM UNNEST(embedding) x)
        THEN 'vector has non-finite values'
    WHEN (SELECT LOGICAL_AND(x = 0) FROM UNNEST(embedding) x) THEN 'vector is all zeros'
    ELSE '' END AS reason
FROM (
    SELECT
        CAST(key AS STRING) AS content_hash,
        CAST(status AS STRING) AS status,
        ARRAY(
            SELECT CAST(x AS FLOAT64)
            FROM UNNEST(COALESCE(
                JSON_VALUE_ARRAY(predictions, '$[0].embeddings.values'),
                JSON_VALUE_ARRAY(predictions, '$[0].embeddings.Values')
            )) x WITH OFFSET position ORDER BY position
        ) AS embedding,
        COALESCE(SAFE_CAST(
            JSON_VALUE(predictions, '$[0].embeddings.statistics.token_count') AS INT64
        ), 0) AS token_count,
        COALESCE(SAFE_CAST(
            JSON_VALUE(predictions, '$[0].embeddings.statistics.truncated') AS BOOL
        ), FALSE) AS truncated
    FROM {predictions}
)
"""
# the errors table of a job: the instance's columns and `errors` STRUCT<code, message>
ERRORS_CHECKED_SQL = """
SELECT CAST(key AS STRING) AS content_hash, CASE
    WHEN errors.code IS NULL THEN COALESCE(errors.message, 'the service reported the row failed')
    ELSE CONCAT(CAST(errors.code AS STRING), ': ', COALESCE(errors.message, '')) END AS reason,
    0 AS token_count, FALSE AS truncated
FROM {predictions}
"""
MERGE_SQL = """
MERGE {target} t
USING (
    SELECT w.id, c.content_hash, c.embedding, @model AS model, c.token_count,
        CURRENT_TIMESTAMP() AS embedded_at, c.truncated, w.document_id, w.chunk_index,
        w.chunk_start, w.chunk_end
    FROM (
        SELECT * FROM ({checked}) WHERE reason = ''
        QUALIFY ROW_NUMBER() OVER (PARTITION BY content_hash) = 1
    ) c
    JOIN {wanted} w USING (content_hash)
    WHERE true QUALIFY ROW_NUMBER() OVER (PARTITION BY w.id) = 1
) s
ON t.id = s.id
WHEN MATCHED THEN UPDATE SET content_hash = s.content_hash, embedding = s.embedding,
    model = s.model, token_count = s.token_count, embedded_at = s.embedded_at,
    truncated = s.truncated, document_id = s.document_id, chunk_index = s.chunk_index,
    chunk_start = s.chunk_start, chunk_end = s.chunk_end
WHEN NOT MATCHED THEN INSERT ROW
"""
OUTCOMES_SQL = """
SELECT c.content_hash, c.reason, c.token_count
FROM ({checked}) c
WHERE c.content_hash IN (SELECT content_hash FROM {wanted}) {failed}
"""
TOKENS_SQL = """
SELECT COUNT(*), COALESCE(SUM(c.token_count), 0)
FROM ({checked}) c
WHERE c.content_hash IN (SELECT content_hash FROM {wanted}) AND c.reason = ''
"""


class _Tables(Protocol):
    @property
    def dataset_id(self) -> str: ...

    def write_target(
        self, pipeline: str
    ) -> AbstractContextManager[tuple[bigquery.Client, str]]: ...


class BigQueryWarehouse:
    """Lands prediction tables and copies vectors with SQL in the store's dataset.

    Args:
        tables: the BigQuery store whose tables this works on.
    """

    def __init__(self, tables: _Tables) -> None:
        self._tables = tables

    @property
    def dataset_id(self) -> str:
        """`project.dataset` of the store."""
        return self._tables.dataset_id

    def write_target(self, pipeline: str) -> AbstractContextManager[tuple[Any, str]]:
        """Yields a client and the quoted table refreshes write to."""
        return self._tables.write_target(pipeline)

    @contextmanager
    def scratch_keys(self, client: Any, keys: pd.DataFrame) -> Iterator[str]:
        """Loads keys (`id, content_hash`, positions) into a scratch table; yields its name."""
        with scratch_table(client, self.dataset_id, keys_and_positions(keys), KEY_FIELDS) as name:
            yield name

    def copy_by_hash_from(self, pipeline: str, keys_sql: str) -> int:
        """Gives the ids of `keys_sql`'s rows the vector already stored under their hash."""
        with self.write_target(pipeline) as (client, target):
            copied = run_query(client, COPY_BY_HASH_SQL.format(target=target, incoming=keys_sql))
        return int(copied.num_dml_affected_rows or 0)

    def land_prediction_table(
        self,
        *,
        pipeline: str,
        predictions_uri: str,
        wanted: pd.DataFrame | str,
        model: str,
        dimension: int,
        failures_only: bool = False,
    ) -> TableLanding | None:
        """Upserts the good rows of a prediction table for the `wanted` ids, in BigQuery.

        Args:
            pipeline: whose table.
            predictions_uri: `bq://project.dataset.table` of the job's predictions.
            wanted: `id, content_hash` and positions of the rows the predictions are for, or a
                query giving them (the warehouse-native path: the manifest table).
            model: the model recorded with each vector.
            dimension: the vector length expected.
            failures_only: bring back only the rows that failed (landed rows are counted), so
                the process holds nothing per landed row.

        Returns:
            What landed and what failed (an errors table lands nothing and gives its rows'
            reasons); None when the table has no `key` column to join on.
        """
        address = parse_table_uri(predictions_uri)
        params = {"model": model, "dimension": dimension}
        failed = "AND c.reason != ''" if failures_only else ""
        with self.write_target(pipeline) as (client, target):
            columns = {field.name for field in client.get_table(address.qualified).schema}
            if "key" not in columns or not {"predictions", "errors"} & columns:
                return None
            checked = CHECKED_SQL.format(predictions=address.sql)
            with ExitStack() as stack:
                keys = (
                    f"({wanted})"
                    if isinstance(wanted, str)
                    else stack.enter_context(self.scratch_keys(client, wanted))
                )
                if "predictions" not in columns:  # an errors table: reasons only
                    checked = ERRORS_CHECKED_SQL.format(predictions=address.sql)
                    rows = query_rows(
                        client, OUTCOMES_SQL.format(checked=checked, wanted=keys, failed="")
                    )
                    reasons = [(str(h), str(reason)) for h, reason, _ in rows]
                    return TableLanding(written=0, landed=0, tokens=0, outcomes=reasons)
                job = run_query(
                    client, MERGE_SQL.format(target=target, checked=checked, wanted=keys), params
                )
                rows = query_rows(
                    client,
                    OUTCOMES_SQL.format(checked=checked, wanted=keys, failed=failed),
                    params,
                )
                if failures_only:
                    ((landed, tokens),) = query_rows(
                        client, TOKENS_SQL.format(checked=checked, wanted=keys), params
                    )
        outcomes = [(str(h), str(reason)) for h, reason, _ in rows]
        if not failures_only:
            landed = sum(1 for _, reason, _ in rows if not reason)
            tokens = sum(int(str(t or 0)) for _, reason, t in rows if not reason)
        return TableLanding(
            written=int(job.num_dml_affected_rows or 0),
            landed=int(str(landed)),
            tokens=int(str(tokens)),
            outcomes=outcomes,
        )
