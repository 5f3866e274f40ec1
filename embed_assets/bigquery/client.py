"""BigQuery clients and `bq://` addresses, shared by the corpus reader, staging and the store.

On Google Cloud the client comes from dagster-gcp's `BigQueryResource` (application default
credentials). When `BIGQUERY_EMULATOR_HOST` names an emulator, the client talks to it with
anonymous credentials instead: `BigQueryResource` honours the address but still asks for
default credentials, which do not exist offline.
"""

import io
import os
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster_gcp import BigQueryResource
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from embed_assets.errors import ConfigError

EMULATOR_VARIABLE = "BIGQUERY_EMULATOR_HOST"
SCHEME = "bq://"
# project ids may hold dashes, dots and a colon (domain-scoped: example.com:project)
_TABLE_URI = re.compile(r"^bq://([A-Za-z0-9.:_-]+?)\.([A-Za-z0-9_]+)\.([^.]+)$")
_DATASET_URI = re.compile(r"^bq://([A-Za-z0-9.:_-]+?)\.([A-Za-z0-9_]+)$")


@dataclass(frozen=True)
class TableAddress:
    """A BigQuery table: `project.dataset.table`."""

    project: str
    dataset: str
    table: str

    @property
    def qualified(self) -> str:
        """`project.dataset.table`, as the client's table arguments take it."""
        return f"{self.project}.{self.dataset}.{self.table}"

    @property
    def sql(self) -> str:
        """The table quoted for SQL: `` `project.dataset.table` ``."""
        return f"`{self.qualified}`"

    @property
    def uri(self) -> str:
        """`bq://project.dataset.table`."""
        return f"{SCHEME}{self.qualified}"


def is_bigquery_uri(uri: str) -> bool:
    """True for `bq://...` addresses."""
    return uri.startswith(SCHEME)


def parse_table_uri(uri: str) -> TableAddress:
    """Parses `bq://project.dataset.table`.

    Raises:
        ValueError: `uri` is not of that form; the message shows the form.
    """
    match = _TABLE_URI.match(uri)
    if not match:
        raise ConfigError(
            f"{uri!r} is not a BigQuery table address: use bq://project.dataset.table"
        )
    return TableAddress(*match.groups())


def parse_dataset_uri(uri: str) -> tuple[str, str]:
    """Parses `bq://project.dataset` into `(project, dataset)`.

    Raises:
        ValueError: `uri` is not of that form; the message shows the form.
    """
    match = _DATASET_URI.match(uri)
    if not match:
        raise ConfigError(f"{uri!r} is not a BigQuery dataset address: use bq://project.dataset")
    return match.group(1), match.group(2)


@contextmanager
def bigquery_client(*, project: str, location: str | None = None) -> Iterator[bigquery.Client]:
    """Yields a BigQuery client for `project`: the emulator's when one is configured.

    Args:
        project: the project jobs run in (and are billed to).
        location: where jobs run (`US`, `EU`, a region); None lets BigQuery infer it.
    """
    emulator = os.environ.get(EMULATOR_VARIABLE)
    if emulator:
        yield emulator_client(emulator, project=project, location=location)
        return
    with BigQueryResource(project=project, location=location).get_client() as client:
        yield client


def emulator_client(address: str, *, project: str, location: str | None = None) -> bigquery.Client:
    """A client of the BigQuery emulator at `address` (`host:port` or a URL), anonymous."""
    url = address if "://" in address else f"http://{address}"
    return bigquery.Client(
        project=project,
        location=location,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=url),
    )


Params = Mapping[str, object]


def _parameter(
    name: str, value: object
) -> bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter:
    if isinstance(value, list | tuple):
        kind = "FLOAT64" if value and isinstance(value[0], float) else "STRING"
        return bigquery.ArrayQueryParameter(name, kind, list(value))
    if isinstance(value, bool):
        return bigquery.ScalarQueryParameter(name, "BOOL", value)
    if isinstance(value, int):
        return bigquery.ScalarQueryParameter(name, "INT64", value)
    if isinstance(value, float):
        return bigquery.ScalarQueryParameter(name, "FLOAT64", value)
    if value is None:  # the emulator cannot take NULL parameters: write NULLIF(@name, '')
        return bigquery.ScalarQueryParameter(name, "STRING", "")
    return bigquery.ScalarQueryParameter(name, "STRING", str(value))


def run_query(client: bigquery.Client, sql: str, params: Params | None = None) -> bigquery.QueryJob:
    """Runs `sql` with named parameters (`@name`) and waits for it; returns the finished job.

    Parameter types follow the Python values: str, int, float, bool, and lists of str or float.
    """
    config = bigquery.QueryJobConfig(
        query_parameters=[_parameter(name, value) for name, value in (params or {}).items()]
    )
    job = client.query(sql, job_config=config)
    job.result()
    return job


def query_rows(
    client: bigquery.Client, sql: str, params: Params | None = None
) -> list[tuple[object, ...]]:
    """Runs `sql` and returns its rows as tuples."""
    return [tuple(row.values()) for row in run_query(client, sql, params).result()]


def query_frame(client: bigquery.Client, sql: str, params: Params | None = None) -> pd.DataFrame:
    """Runs `sql` and returns its rows as a DataFrame, read through REST pages."""
    # no Storage Read API client: by default it dials Google, even with an emulator configured
    result = run_query(client, sql, params).result()
    return result.to_arrow(create_bqstorage_client=False).to_pandas()


def load_arrow(
    client: bigquery.Client,
    table: str,
    rows: pa.Table,
    *,
    schema: list[bigquery.SchemaField] | None = None,
) -> None:
    """Replaces `table` (`project.dataset.table`) with `rows`, through one Parquet load job."""
    buffer = io.BytesIO()
    pq.write_table(rows, buffer)
    buffer.seek(0)
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
    )
    if schema is not None:
        config.schema = schema
    parquet = bigquery.ParquetOptions()
    parquet.enable_list_inference = True  # a list<float> column loads as ARRAY<FLOAT64>
    config.parquet_options = parquet
    client.load_table_from_file(buffer, table, job_config=config).result()


@contextmanager
def scratch_table(
    client: bigquery.Client, dataset: str, rows: pa.Table, schema: Sequence[bigquery.SchemaField]
) -> Iterator[str]:
    """Loads `rows` into a new table of `dataset` (`project.dataset`); yields its quoted name.

    The table is dropped when the block ends, pass or fail.
    """
    name = f"{dataset}._incoming_{uuid.uuid4().hex}"
    load_arrow(client, name, rows, schema=list(schema))
    try:
        yield f"`{name}`"
    finally:
        client.delete_table(name, not_found_ok=True)


def scratch_keys(
    client: bigquery.Client, dataset: str, frame: pd.DataFrame, columns: Sequence[str]
) -> AbstractContextManager[str]:
    """Loads text columns of `frame` into a scratch table (see `scratch_table`)."""
    rows = pa.table(
        {column: pa.array(frame[column].astype(str).tolist(), pa.string()) for column in columns}
    )
    return scratch_table(
        client, dataset, rows, [bigquery.SchemaField(c, "STRING") for c in columns]
    )
