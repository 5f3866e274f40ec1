"""Staging in a BigQuery dataset: every staged object is a table.

A Vertex backend with `staging_uri="bq://project.dataset"` keeps its manifests, request
shards (one prompts table per job) and the jobs' prediction tables here. Paths become table
names: `join("docs", "sub-1", "manifest.parquet")` is `bq://project.dataset.docs__sub_1__manifest`,
and a "folder" is every table whose name starts with its name and `__`.
"""

import io
import re
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq
from google.api_core.exceptions import NotFound
from google.cloud import bigquery

from embed_assets.bigquery.client import (
    SCHEME,
    TableAddress,
    load_arrow,
    parse_dataset_uri,
    parse_table_uri,
)
from embed_assets.errors import ConfigError, StagedObjectMissing

PARQUET_MAGIC = b"PAR1"
SEPARATOR = "__"
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def table_part(text: str) -> str:
    """Turns one path part into a table-name part: letters, digits and `_`, no extension."""
    stem = text.strip("/").rsplit(".", 1)[0] if "." in text else text.strip("/")
    return _UNSAFE.sub("_", stem)


def read_arrow(client: bigquery.Client, table: str) -> pa.Table:
    """Reads a whole table (`project.dataset.table`) as Arrow, through REST pages."""
    rows = client.list_rows(client.get_table(table), page_size=50_000)
    return rows.to_arrow(create_bqstorage_client=False)


class BigQueryStorage:
    """Staged objects as tables of one dataset, through a google-cloud-bigquery client.

    Only Parquet is written as bytes (it becomes the table); `open_read` gives a table back
    as Parquet bytes, so a manifest reads the same from every staging.
    """

    holds_tables = True

    def __init__(self, root: str, client: bigquery.Client) -> None:
        """Creates the staging.

        Args:
            root: `bq://project.dataset`; the dataset must exist.
            client: a `google.cloud.bigquery.Client`.
        """
        self.project, self.dataset = parse_dataset_uri(root.rstrip("/"))
        self.root = f"{SCHEME}{self.project}.{self.dataset}"
        self.client = client

    def location(self) -> str | None:
        """The dataset's location (`US`, `EU`, `us-central1`, ...).

        Raises:
            StagedObjectMissing: the dataset does not exist.
        """
        project, dataset = parse_dataset_uri(self.root)
        try:
            return str(self.client.get_dataset(f"{project}.{dataset}").location or "") or None
        except NotFound:
            raise StagedObjectMissing(f"the staging dataset {self.root} does not exist") from None

    def table(self, uri: str) -> TableAddress:
        """Returns the table a staged URI names."""
        return parse_table_uri(uri)

    def join(self, *parts: str) -> str:
        """Returns the URI of the table `parts` name (joined with `__`)."""
        name = SEPARATOR.join(table_part(p) for p in parts if p.strip("/"))
        return f"{self.root}.{name}"

    def write_bytes(self, uri: str, data: bytes) -> None:
        """Loads Parquet bytes as the table `uri` names (replacing it).

        Raises:
            ValueError: `data` is not Parquet; BigQuery staging holds tables, not files.
        """
        if not data.startswith(PARQUET_MAGIC):
            raise ConfigError(f"{uri}: BigQuery staging stores tables; only Parquet can be written")
        self.write_table(uri, pq.read_table(io.BytesIO(data)))

    def write_table(
        self, uri: str, rows: pa.Table, *, schema: list[bigquery.SchemaField] | None = None
    ) -> None:
        """Replaces the table `uri` names with `rows`."""
        load_arrow(self.client, self.table(uri).qualified, rows, schema=schema)

    def read_table(self, uri: str) -> pa.Table:
        """Reads the table `uri` names as Arrow."""
        return read_arrow(self.client, self.table(uri).qualified)

    def upload_file(self, local_path: Path, uri: str) -> None:
        """Loads a local Parquet file as a table."""
        self.write_bytes(uri, Path(local_path).read_bytes())

    def open_read(self, uri: str) -> AbstractContextManager[IO[bytes]]:
        """Opens a table as Parquet bytes."""
        buffer = io.BytesIO()
        pq.write_table(self.read_table(uri), buffer)
        buffer.seek(0)
        return buffer

    def download_file(self, uri: str, local_path: Path) -> None:
        """Writes a table to a local Parquet file."""
        pq.write_table(self.read_table(uri), local_path)

    def _get(self, uri: str) -> Any:
        try:
            return self.client.get_table(self.table(uri).qualified)
        except NotFound:
            return None

    def exists(self, uri: str) -> bool:
        """Tells whether the table exists."""
        return self._get(uri) is not None

    def tables_below(self, uri: str) -> list[str]:
        """Returns the URI itself if it is a table, else the tables of its "folder", sorted."""
        if self.exists(uri):
            return [uri]
        address = self.table(uri)
        prefix = address.table + SEPARATOR
        listed = self.client.list_tables(f"{address.project}.{address.dataset}")
        return sorted(
            f"{SCHEME}{address.project}.{address.dataset}.{t.table_id}"
            for t in listed
            if t.table_id.startswith(prefix)
        )

    def list_jsonl(self, uri: str) -> list[str]:
        """Returns the prediction tables at or below `uri` (the tables play the files' part)."""
        return self.tables_below(uri)

    def fingerprint(self, uri: str) -> str | None:
        """Last-modified time, rows and bytes of a table (None if missing)."""
        table = self._get(uri)
        if table is None:
            return None
        return f"modified {table.modified}, rows {table.num_rows}, bytes {table.num_bytes}"

    def delete(self, uri: str) -> int:
        """Drops a table, or every table of a "folder"; returns how many."""
        tables = self.tables_below(uri)
        for table in tables:
            self.client.delete_table(self.table(table).qualified, not_found_ok=True)
        return len(tables)
