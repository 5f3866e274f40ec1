"""Reading a corpus from BigQuery: a table (`bq://project.dataset.table`) or a SQL query.

Rows arrive as Arrow, through the BigQuery Storage Read API when `google-cloud-bigquery-storage`
is installed and a real service is used, else through REST pages; columns stay Arrow-backed,
so INT64 ids are exact and NULLs stay missing, and validation treats them as it treats a file's.
"""

import hashlib
import importlib.util
import os
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
from google.api_core.exceptions import GoogleAPICallError, NotFound
from google.cloud import bigquery

from embed_assets.bigquery.client import (
    EMULATOR_VARIABLE,
    bigquery_client,
    parse_table_uri,
)
from embed_assets.corpus.validation import CorpusError

PAGE_ROWS = 50_000  # per REST page: the emulator answers a page-less list in one response


@dataclass(frozen=True)
class BigQueryQuery:
    """A corpus that is the result of a BigQuery query.

    Example:
        ```python
        EmbeddingPipeline(
            name="docs",
            corpus=BigQueryQuery(sql="SELECT doc_id, body FROM raw.docs WHERE lang = 'en'",
                                 project="my-project"),
            id_column="doc_id",
            text_column="body",
        )
        ```

    Attributes:
        sql: the query (GoogleSQL); its result columns are the corpus columns.
        project: the project the query runs in and is billed to.
        location: where it runs (None: BigQuery infers it from the tables).
    """

    sql: str
    project: str
    location: str | None = None

    def describe(self) -> str:
        """`bigquery query <digest> in <project>`, for messages and asset descriptions."""
        digest = hashlib.sha256(self.sql.encode()).hexdigest()[:12]
        return f"BigQuery query {digest} in {self.project}"


def _use_storage_api() -> bool:
    # the Storage Read API client dials Google itself: never with an emulator
    return (
        not os.environ.get(EMULATOR_VARIABLE)
        and importlib.util.find_spec("google.cloud.bigquery_storage") is not None
    )


def _frame(rows: pa.Table) -> pd.DataFrame:
    return rows.to_pandas(types_mapper=pd.ArrowDtype)


def read_bigquery_corpus(source: str | BigQueryQuery) -> pd.DataFrame:
    """Reads a corpus from a `bq://project.dataset.table` table or a `BigQueryQuery`.

    Raises:
        CorpusError: the table does not exist or BigQuery refused the read; one line, with
            BigQuery's own reason.
    """
    shown = source if isinstance(source, str) else source.describe()
    try:
        if isinstance(source, str):
            address = parse_table_uri(source)
            with bigquery_client(project=address.project) as client:
                rows = client.list_rows(address.qualified, page_size=PAGE_ROWS)
                return _frame(rows.to_arrow(create_bqstorage_client=_use_storage_api()))
        with bigquery_client(project=source.project, location=source.location) as client:
            result = client.query(source.sql).result(page_size=PAGE_ROWS)
            return _frame(result.to_arrow(create_bqstorage_client=_use_storage_api()))
    except NotFound:
        raise CorpusError(f"corpus {shown} does not exist") from None
    except GoogleAPICallError as error:
        raise CorpusError(f"corpus {shown} cannot be read: {error.message}") from error
    except ValueError as error:
        raise CorpusError(f"corpus {shown}: {error}") from None


def bigquery_fingerprint(source: str | BigQueryQuery) -> str | None:
    """A cheap fingerprint of a BigQuery corpus: it changes when its rows may have.

    For a table: its last-modified time, rows and bytes (metadata only, no bytes scanned). For a
    query: its text and the last-modified times of the tables it reads (a dry run finds them).
    None when the table does not exist.
    """
    if isinstance(source, str):
        address = parse_table_uri(source)
        with bigquery_client(project=address.project) as client:
            return _table_fingerprint(client, address.qualified)
    with bigquery_client(project=source.project, location=source.location) as client:
        dry_run = client.query(
            source.sql, job_config=bigquery.QueryJobConfig(dry_run=True, use_query_cache=False)
        )
        parts = [hashlib.sha256(source.sql.encode()).hexdigest()[:16]]
        for table in sorted(dry_run.referenced_tables or [], key=str):
            parts.append(f"{table.dataset_id}.{table.table_id}:{_table_fingerprint(client, table)}")
        return "|".join(parts)


def _table_fingerprint(client: bigquery.Client, table: object) -> str | None:
    try:
        found = client.get_table(table)  # type: ignore[arg-type]
    except NotFound:
        return None
    modified = found.modified.isoformat() if found.modified else "unknown"
    return f"modified {modified}, {found.num_rows} rows, {found.num_bytes} bytes"
