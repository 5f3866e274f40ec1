"""Reading prediction files: DuckDB's typed JSON reader first, the line parser as fallback.

Prediction files are large (about 16 KB per 768-d line) and parsing the numbers is most of the
cost of landing. DuckDB's `read_json`, told the exact column types, parses them on every core
straight into a float column, about three times faster than decoding each line into Python
objects. Anything this fast path does not expect (malformed JSON, vectors of mixed length,
BigQuery-style string predictions, differently cased keys) sends the file through the
line-by-line parser in `lines`, which accepts every variant and names the offending line.
"""

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import duckdb
import orjson
import pandas as pd

from embed_assets.bigquery.client import bigquery_client, is_bigquery_uri, parse_table_uri
from embed_assets.predictions.bigquery_table import read_prediction_table
from embed_assets.predictions.columns import (
    GEMINI_JSON_COLUMNS,
    LEGACY_JSON_COLUMNS,
    batch_from_table,
    read_json_columns,
)
from embed_assets.predictions.lines import PredictionBatch, parse_prediction_lines
from embed_assets.staging.base import Storage, TableStorage
from embed_assets.staging.files import list_uri_jsonl, storage_for

_LEGACY_SELECT = """
    coalesce(instance.key, '') AS key,
    coalesce(instance.content, '') AS content,
    instance.title AS title,
    instance.task_type AS task_type,
    predictions[1].embeddings."values" AS vector,
    coalesce(predictions[1].embeddings.statistics.token_count, 0) AS token_count,
    coalesce(predictions[1].embeddings.statistics.truncated, false) AS truncated,
    status, error
"""
_GEMINI_SELECT = """
    coalesce(key, '') AS key,
    coalesce(array_to_string(list_transform(request.content.parts, lambda p: p.text), ''), '')
        AS content,
    request.embed_content_config.title AS title,
    request.embed_content_config.task_type AS task_type,
    response.embedding."values" AS vector,
    coalesce(response.embedding.statistics.token_count, response."tokenCount",
        response."usageMetadata"."promptTokenCount", 0) AS token_count,
    coalesce(response.truncated, response.embedding.statistics.truncated, false) AS truncated,
    status, error
"""
# DuckDB's working memory while it parses one file (the parsed columns come on top)
READER_MEMORY_LIMIT = "256MB"


def read_prediction_file(path: str | Path, *, lenient: bool = False) -> PredictionBatch:
    """Parses one local prediction file of either schema into a `PredictionBatch`.

    Args:
        path: the file.
        lenient: skip unreadable lines and fail rows of the wrong length instead of raising
            (see `parse_prediction_lines`); landing reads this way, so one bad line costs one row.

    Raises:
        ValueError: (not lenient) a line is not valid JSON, or vectors disagree on their length.
    """
    path = Path(path)
    gemini = _first_line_is_gemini(path)
    if gemini is not None:
        batch = _read_with_duckdb(path, gemini=gemini)
        if batch is not None:
            return batch
    with path.open("rb") as stream:
        return parse_prediction_lines(stream, lenient=lenient)


def _first_line_is_gemini(path: Path) -> bool | None:
    """Tells the schema from the first line; None when it cannot be told (empty, not JSON)."""
    with path.open("rb") as stream:
        for line in stream:
            if line.strip():
                try:
                    first = orjson.loads(line)
                except orjson.JSONDecodeError:
                    return None
                return isinstance(first, dict) and "instance" not in first
    return None


def _read_with_duckdb(path: Path, *, gemini: bool) -> PredictionBatch | None:
    """Reads the file with typed `read_json`; None when it holds something unexpected."""
    spec = read_json_columns(GEMINI_JSON_COLUMNS if gemini else LEGACY_JSON_COLUMNS)
    query = (
        f"SELECT {_GEMINI_SELECT if gemini else _LEGACY_SELECT} FROM read_json(?, "
        f"columns={spec}, format='newline_delimited')"
    )
    connection = duckdb.connect(config={"memory_limit": READER_MEMORY_LIMIT})
    try:
        table = connection.sql(query, params=[str(path)]).to_arrow_table()
    except duckdb.Error:
        return None
    finally:
        connection.close()
    return batch_from_table(table)


def read_prediction_object(storage: Storage, uri: str, *, lenient: bool = False) -> PredictionBatch:
    """Reads one prediction file from a staging storage (a gs:// object is downloaded first).

    Only one file is ever on local disk at a time, so disk and memory stay bounded by a file.
    A `bq://` URI is a BigQuery prediction table, read through the staging's client.
    """
    if is_bigquery_uri(uri):
        if storage.holds_tables:  # a BigQuery staging: its client reads the table
            return read_prediction_table(cast(TableStorage, storage).client, uri, lenient=lenient)
        with bigquery_client(project=parse_table_uri(uri).project) as client:
            return read_prediction_table(client, uri, lenient=lenient)
    with local_prediction_file(storage, uri) as local:
        return read_prediction_file(local, lenient=lenient)


@contextmanager
def local_prediction_file(storage: Storage, uri: str) -> Iterator[Path]:
    """The prediction file `uri` on local disk: itself, or a gs:// object downloaded for the block."""
    if not uri.startswith("gs://"):
        yield Path(uri)
        return
    with tempfile.TemporaryDirectory(prefix="embed-assets-") as folder:
        local = Path(folder) / "predictions.jsonl"
        storage.download_file(uri, local)
        yield local


def iter_prediction_batches(path_or_uri: str | Path) -> Iterator[PredictionBatch]:
    """Yields one `PredictionBatch` per prediction file (or table), so memory is bounded by one."""
    if is_bigquery_uri(str(path_or_uri)):
        with bigquery_client(project=parse_table_uri(str(path_or_uri)).project) as client:
            yield read_prediction_table(client, str(path_or_uri))
        return
    for uri in list_uri_jsonl(str(path_or_uri)):
        yield read_prediction_object(storage_for(uri), uri)


def batch_to_frame(batch: PredictionBatch) -> pd.DataFrame:
    """Turns a `PredictionBatch` into the DataFrame `read_predictions` returns."""
    ok = batch.ok
    embeddings = [row if good else None for row, good in zip(batch.vectors, ok, strict=True)]
    frame = pd.DataFrame(
        {
            "key": batch.keys,
            "content": batch.contents,
            "title": batch.titles,
            "task_type": batch.task_types,
            "embedding": embeddings,
            "token_count": batch.token_counts,
            "truncated": batch.truncated,
            "status": batch.statuses,
        }
    )
    return frame


def read_predictions(path_or_uri: str | Path) -> pd.DataFrame:
    """Reads prediction lines of a batch embedding job into a DataFrame.

    Args:
        path_or_uri: a prediction file, or a folder (local or `gs://`) whose `*.jsonl` files
            are all read, such as a job's `prediction-model-<timestamp>/` output directory,
            or a BigQuery prediction table `bq://project.dataset.table` (its `predictions`
            column is the JSON string the service writes, with `values` or `Values`).

    Returns:
        One row per prediction line, in file order: `key` (Gemini schema; empty for legacy),
        the echoed `content`, `title` and `task_type`, `embedding` (a float32 vector, or None
        where the row failed), `token_count`, `truncated`, and `status` (empty when the row
        succeeded, else the reason it failed).
    """
    frames = [batch_to_frame(batch) for batch in iter_prediction_batches(path_or_uri)]
    if not frames:
        return batch_to_frame(parse_prediction_lines([]))
    return pd.concat(frames, ignore_index=True)
