"""JSONL, CSV and in-memory corpora prepared a batch of documents at a time.

The source is read twice: once for its columns and ids (an id that repeats anywhere rejects
every row holding it; DuckDB counts them in bounded memory), then a batch of rows at a time,
each batch validated, hashed (and cut into chunks), appended to the prepared file and dropped.
Neither the documents nor their chunks are ever all in memory, and the rows are the ones the
whole-file readers (`corpus.sources`) and `validate_corpus` give. Values are read as written
(`jsonl_records`, CSV as text), so there is no type inference to change an id.
"""

import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from embed_assets.bigquery.client import is_bigquery_uri
from embed_assets.corpus.batches import BATCH_ROWS, ID_COUNT_MEMORY, prepare_parquet
from embed_assets.corpus.bigquery import read_bigquery_corpus
from embed_assets.corpus.chunking import Chunking
from embed_assets.corpus.chunks import prepared_corpus
from embed_assets.corpus.prepared import PreparedCorpus, PreparedWriter, write_prepared
from embed_assets.corpus.sources import (
    PARQUET_SUFFIXES,
    STREAMED_SUFFIXES,
    csv_options,
    jsonl_records,
    local_corpus_file,
    parse_errors,
    read_corpus_file,
)
from embed_assets.corpus.validation import (
    CorpusColumns,
    check_columns,
    check_ids,
    validate_corpus,
)
from embed_assets.errors import ConfigError

# the rows of a source, a batch at a time, holding the columns named
Batches = Callable[[list[str]], Iterator[pd.DataFrame]]


def prepare_in_batches(
    source_file: Path | None,
    *,
    frame: pd.DataFrame | None = None,
    output: Path,
    columns: CorpusColumns,
    source: str,
    chunking: Chunking | None,
    model: str,
    task_type: str | None,
    output_dimensionality: int | None,
    encoding: str = "utf-8",
    batch_rows: int = BATCH_ROWS,
) -> PreparedCorpus:
    """A JSONL or CSV file, or a frame, prepared into `output` a batch of rows at a time.

    Args:
        source_file: a local `.jsonl`/`.json`/`.ndjson` or `.csv` file (None: `frame`).
        frame: the rows an upstream asset gave, when there is no file.
        output: where the prepared rows go (`corpus.prepared`).
        columns: which columns hold the id, the text and the title.
        source: the source, for messages.
        chunking: the pipeline's chunking, if any.
        model: the model the texts are embedded with.
        task_type: the task type (part of each text's hash).
        output_dimensionality: the dimensionality (part of each text's hash).
        encoding: the text encoding of the file.
        batch_rows: documents prepared at a time.

    Raises:
        CorpusError: the file cannot be read, or a named column is missing.
    """
    if source_file is None:
        if frame is None:
            raise ConfigError("prepare_in_batches needs a source file or a frame")
        present, repeated, batches = _frame_batches(frame, columns, batch_rows)
    elif source_file.suffix.lower() == ".csv":
        present, repeated, batches = _csv_batches(
            source_file, columns, encoding, batch_rows, shown=source
        )
    else:
        present, repeated, batches = _jsonl_batches(
            source_file, columns, encoding, batch_rows, shown=source
        )
    check_columns(pd.DataFrame(columns=present), columns, source=source)
    wanted = [columns.id_column, columns.text_column, columns.title_column]
    names = list(dict.fromkeys(c for c in wanted if c))
    writer = PreparedWriter(output)
    first = 0
    kind = source_file.suffix.lower() if source_file is not None else ".jsonl"
    for batch in _read(batches(names), kind, source, encoding):
        batch = batch.reset_index(drop=True)
        checked = check_ids(batch[columns.id_column], repeated=repeated)
        validated = validate_corpus(batch, columns, source=source, checked_ids=checked)
        writer.write(_prepared(validated, chunking, model, task_type, output_dimensionality, first))
        first += len(batch)
    if first == 0:  # no rows: the columns alone
        empty = pd.DataFrame({name: pd.Series([], dtype=object) for name in names})
        validated = validate_corpus(empty, columns, source=source)
        writer.write(_prepared(validated, chunking, model, task_type, output_dimensionality, 0))
    return writer.close()


def read_location(location: str, *, encoding: str) -> pd.DataFrame:
    """A corpus file (local or `gs://`) or a `bq://` table, read whole."""
    if is_bigquery_uri(location):
        return read_bigquery_corpus(location)
    return read_corpus_file(location, encoding=encoding)


def prepare_location(
    location: str,
    prepare: Callable[[pd.DataFrame], pd.DataFrame],
    *,
    encoding: str,
    **options: Any,
) -> PreparedCorpus:
    """A corpus file or table prepared into `options["output"]`, a batch at a time if it can be.

    Parquet (`prepare_parquet`: its texts stay in it), JSONL and CSV (`prepare_in_batches`,
    a `gs://` object downloaded first) are read in batches; a `bq://` table, or a Parquet
    object on Cloud Storage, is read whole and given to `prepare` (`EmbeddingPipeline.prepare`).
    """
    suffix = Path(location).suffix.lower()
    if not is_bigquery_uri(location):
        if suffix in PARQUET_SUFFIXES and Path(location).is_file():
            return prepare_parquet(Path(location), **options)
        if suffix in STREAMED_SUFFIXES:
            with local_corpus_file(location) as local:
                return prepare_in_batches(local, encoding=encoding, **options)
    return write_prepared(prepare(read_location(location, encoding=encoding)), options["output"])


def _read(
    batches: Iterator[pd.DataFrame], suffix: str, source: str, encoding: str
) -> Iterator[pd.DataFrame]:
    """The batches, with an error in reading one said as the whole-file readers say it."""
    while True:
        with parse_errors(suffix, shown=source, encoding=encoding):
            batch = next(batches, None)
        if batch is None:
            return
        yield batch


def _prepared(
    validated: Any,
    chunking: Chunking | None,
    model: str,
    task_type: str | None,
    output_dimensionality: int | None,
    first_row: int,
) -> pd.DataFrame:
    return prepared_corpus(
        validated,
        chunking=chunking,
        model=model,
        task_type=task_type,
        output_dimensionality=output_dimensionality,
        first_row=first_row,
    )


def _jsonl_batches(
    path: Path, columns: CorpusColumns, encoding: str, batch_rows: int, *, shown: str
) -> tuple[list[str], pa.Array, Batches]:
    """A JSONL file's keys (in the order lines give them) and repeated ids, read in one pass."""
    keys: dict[str, None] = {}
    ids = _IdCounter()
    with parse_errors(path.suffix.lower(), shown=shown, encoding=encoding):
        held: list[Any] = []
        for record in jsonl_records(path, encoding=encoding):
            keys.update(dict.fromkeys(record))
            held.append(record.get(columns.id_column))
            if len(held) >= batch_rows:
                ids.add(_column(held))
                held = []
        ids.add(_column(held))

    def batches(names: list[str]) -> Iterator[pd.DataFrame]:
        records: list[dict[str, Any]] = []
        for record in jsonl_records(path, encoding=encoding):
            records.append(record)
            if len(records) >= batch_rows:
                yield _frame(records, names)
                records = []
        if records:
            yield _frame(records, names)

    return list(keys), ids.repeated(), batches


def _csv_batches(
    path: Path, columns: CorpusColumns, encoding: str, batch_rows: int, *, shown: str
) -> tuple[list[str], pa.Array, Batches]:
    """A CSV file's header and repeated ids (its id column read alone, a batch at a time)."""
    options = csv_options(encoding)
    ids = _IdCounter()
    with parse_errors(".csv", shown=shown, encoding=encoding):
        present = [str(c) for c in pd.read_csv(path, nrows=0, **options).columns]
        if columns.id_column in present:
            for chunk in pd.read_csv(
                path, usecols=[columns.id_column], chunksize=batch_rows, **options
            ):
                ids.add(chunk[columns.id_column])

    def batches(names: list[str]) -> Iterator[pd.DataFrame]:
        yield from pd.read_csv(path, usecols=names, chunksize=batch_rows, **options)

    return present, ids.repeated(), batches


def _frame_batches(
    frame: pd.DataFrame, columns: CorpusColumns, batch_rows: int
) -> tuple[list[str], pa.Array, Batches]:
    """An upstream asset's frame, sliced (its chunks are made and written a slice at a time)."""
    present = [str(c) for c in frame.columns]
    ids = _IdCounter()
    if columns.id_column in frame.columns:
        ids.add(frame[columns.id_column])

    def batches(names: list[str]) -> Iterator[pd.DataFrame]:
        for start in range(0, len(frame), batch_rows):
            yield frame.iloc[start : start + batch_rows][names]

    return present, ids.repeated(), batches


def _frame(records: list[dict[str, Any]], names: list[str]) -> pd.DataFrame:
    """A batch of JSONL records as the columns named (None where a record lacks one)."""
    return pd.DataFrame({name: _column([r.get(name) for r in records]) for name in names})


def _column(values: list[Any]) -> pd.Series:
    """Values as read, in the column validation reads fastest with the same outcome.

    An Arrow text column when each value is text or None (validated as a whole, as a Parquet
    column is); else objects (validated one by one, as the whole-file reader's).
    """
    if all(value is None or type(value) is str for value in values):
        return pd.Series(pd.arrays.ArrowExtensionArray(pa.array(values, pa.string())), copy=False)
    return pd.Series(values, dtype=object)


class _IdCounter:
    """Counts ids (as `check_ids` reads them) in bounded memory.

    The ids go to a temporary Parquet file a batch at a time; DuckDB then finds the repeated
    ones in it, spilling to disk past `ID_COUNT_MEMORY` (as for a Parquet corpus).
    """

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="embed-assets-ids-")
        self._path = Path(self._folder.name) / "ids.parquet"
        self._writer = pq.ParquetWriter(self._path, pa.schema([("id", pa.string())]))

    def add(self, values: Iterable[Any] | pd.Series) -> None:
        """Counts a batch of raw id values (ids that are missing or unusable do not count)."""
        series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
        if series.empty:
            return
        checked = check_ids(series.reset_index(drop=True), repeated=pa.array([], pa.string()))
        kept = pa.table({"id": pa.array(checked.ids, type=pa.string(), from_pandas=True)})
        self._writer.write_table(kept.filter(pa.array(checked.reasons == None)))  # noqa: E711

    def repeated(self) -> pa.Array:
        """The ids held by more than one row, as text; the temporary file is removed."""
        try:
            self._writer.close()
            connection = duckdb.connect(
                config={
                    "memory_limit": ID_COUNT_MEMORY,
                    "temp_directory": self._folder.name,
                    "preserve_insertion_order": False,
                }
            )
            try:
                found = connection.sql(
                    "SELECT id FROM read_parquet($path) GROUP BY id HAVING count(*) > 1",
                    params={"path": str(self._path)},
                ).to_arrow_table()
            finally:
                connection.close()
        finally:
            self._folder.cleanup()
        return found.column("id").combine_chunks().cast(pa.string())
