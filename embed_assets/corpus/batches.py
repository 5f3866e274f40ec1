"""A Parquet corpus prepared a batch of documents at a time, into a prepared-corpus file.

A text is in memory only while it is validated, hashed (and cut into chunks); then its batch
is appended to the prepared file (`corpus.prepared`) and dropped. An id that repeats anywhere
in the source rejects every row holding it: DuckDB finds the repeated ids first, in bounded
memory, so no batch needs the others. The rows are the ones the whole file gives when read
at once.
"""

import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from embed_assets.corpus.chunk_rows import prepared_corpus
from embed_assets.corpus.chunking import Chunking
from embed_assets.corpus.hashing import hash_prefix
from embed_assets.corpus.prepared import PreparedCorpus, PreparedWriter, SourceTexts
from embed_assets.corpus.validation import (
    CorpusColumns,
    CorpusError,
    ValidatedCorpus,
    check_columns,
    check_ids,
    validate_corpus,
)
from embed_assets.sql_text import sql_identifier

# about 80 MB of documents of 5,000 characters: enough for every core to cut at once
BATCH_ROWS = 16_384
# DuckDB's memory while it counts the ids (past it, the count spills to disk)
# (a 5,000,000-id count at 192 MB held 90 MB more at its peak than at 64 MB, no faster)
ID_COUNT_MEMORY = "64MB"


def prepare_parquet(
    path: Path,
    *,
    output: Path,
    columns: CorpusColumns,
    source: str,
    chunking: Chunking | None,
    model: str,
    task_type: str | None,
    output_dimensionality: int | None,
    batch_rows: int = BATCH_ROWS,
) -> PreparedCorpus:
    """A local Parquet corpus validated, hashed (and chunked) a batch of documents at a time.

    Each prepared batch is appended to the Parquet file `output` and dropped, so memory holds
    one batch, whatever the corpus's size.

    Args:
        path: the Parquet file.
        output: where the prepared rows go (`corpus.prepared`).
        columns: which columns hold the id, the text and the title.
        source: the source, for messages.
        chunking: the pipeline's chunking, if any.
        model: the model the texts are embedded with.
        task_type: the task type (part of each text's hash).
        output_dimensionality: the dimensionality (part of each text's hash).
        batch_rows: documents read at a time.

    Returns:
        The file, holding what `prepared_corpus` returns for the whole source file.

    Raises:
        CorpusError: the file cannot be read as Parquet, or a named column is missing.
    """
    writer = PreparedWriter(
        output,
        texts=_source_texts(path, columns, chunking, model, task_type, output_dimensionality),
    )
    for first, validated in _validated_batches(path, columns, source=source, batch_rows=batch_rows):
        writer.write(
            prepared_corpus(
                validated,
                chunking=chunking,
                model=model,
                task_type=task_type,
                output_dimensionality=output_dimensionality,
                first_row=first,
            )
        )
    prepared = writer.close()
    # the pool kept the last batches' memory for the next ones to reuse (fresh pages cost
    # more to fault than to reuse); with the file written, it goes back to the system
    pa.default_memory_pool().release_unused()
    return prepared


def _source_texts(
    path: Path,
    columns: CorpusColumns,
    chunking: Chunking | None,
    model: str,
    task_type: str | None,
    output_dimensionality: int | None,
) -> SourceTexts | None:
    """Where the texts stay: the source, for a column of text (documents or chunks), else None.

    A chunk's text is its document's between `chunk_start` and `chunk_end` (characters).
    """
    try:
        kind = pq.read_schema(path).field(columns.text_column).type
    except (OSError, KeyError, pa.ArrowException):  # _validated_batches says what is wrong
        return None
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return None
    prefix = hash_prefix(
        model=model, task_type=task_type, output_dimensionality=output_dimensionality
    )
    return SourceTexts(path=str(path.resolve()), column=columns.text_column, hash_prefix=prefix)


def _validated_batches(
    path: Path, columns: CorpusColumns, *, source: str, batch_rows: int
) -> Iterator[tuple[int, ValidatedCorpus]]:
    """Each batch of rows validated, with the position of its first row in the file."""
    try:
        file = pq.ParquetFile(path)
        check_columns(pd.DataFrame(columns=file.schema_arrow.names), columns, source=source)
        repeated = _repeated_ids(path, file.schema_arrow, columns.id_column)
        checked = None
        if repeated is None:  # ids that are neither text nor integers: read and checked whole
            ids = file.read(columns=[columns.id_column]).column(0)
            checked = check_ids(pd.Series(pd.arrays.ArrowExtensionArray(ids), copy=False))
            del ids
        wanted = [columns.id_column, columns.text_column, columns.title_column]
        names = list(dict.fromkeys(c for c in wanted if c))
        first = 0
        for batch in _tables(file, names, batch_rows=batch_rows):
            frame = batch.to_pandas(types_mapper=pd.ArrowDtype)
            stop = first + len(frame)
            batch_ids = (
                check_ids(frame[columns.id_column], repeated=repeated)
                if checked is None
                else checked.rows(first, stop)
            )
            yield first, validate_corpus(frame, columns, source=source, checked_ids=batch_ids)
            first = stop
            del frame, batch
        if first == 0:  # no rows: the columns alone
            empty = file.schema_arrow.empty_table().select(names)
            frame = empty.to_pandas(types_mapper=pd.ArrowDtype)
            yield 0, validate_corpus(frame, columns, source=source)
    except (OSError, pa.ArrowException, duckdb.Error) as error:
        lines = str(error).strip().splitlines() or [type(error).__name__]
        raise CorpusError(
            f"corpus file {source} cannot be parsed as Parquet: {lines[0]}"
        ) from error


def _tables(file: pq.ParquetFile, names: list[str], *, batch_rows: int) -> Iterator[pa.Table]:
    """The file's rows in tables of at most `batch_rows`, read a few row groups at a time.

    Small row groups are read together; a larger one is read whole, then sliced. (pyarrow's
    `iter_batches` keeps more of the file in memory than this.) The next row groups are read
    in the background while the caller works on these.
    """
    sizes = [file.metadata.row_group(i).num_rows for i in range(file.num_row_groups)]
    groups = []
    start = 0
    while start < len(sizes):
        stop, rows = start + 1, sizes[start]
        while stop < len(sizes) and rows + sizes[stop] <= batch_rows:
            rows, stop = rows + sizes[stop], stop + 1
        groups.append(range(start, stop))
        start = stop
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = [reader.submit(file.read_row_groups, group, names) for group in groups[:1]]
        for following in [*groups[1:], None]:
            table = pending.pop().result()
            if following is not None:
                pending.append(reader.submit(file.read_row_groups, following, names))
            for offset in range(0, table.num_rows, batch_rows):
                yield table.slice(offset, batch_rows)
            del table


def _repeated_ids(path: Path, schema: pa.Schema, name: str) -> pa.Array | None:
    """The ids (as text) that more than one row of the file holds, counted by DuckDB.

    None when the id column is neither text nor integers: such ids are read value by value.
    """
    kind = schema.field(name).type
    if not (
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind)
    ):
        return None
    return repeated_values(path, sql_identifier(name))


def repeated_values(path: Path, column: str) -> pa.Array:
    """The values (as text) of a Parquet file's column that more than one row holds.

    DuckDB counts them in `ID_COUNT_MEMORY`, spilling to a temporary folder past it; nulls
    do not count.

    Args:
        path: the Parquet file.
        column: the column, quoted for SQL.
    """
    with tempfile.TemporaryDirectory(prefix="embed-assets-ids-") as spill:
        connection = duckdb.connect(
            config={
                "memory_limit": ID_COUNT_MEMORY,
                "temp_directory": spill,
                "preserve_insertion_order": False,
            }
        )
        try:
            found = connection.sql(
                f"SELECT CAST({column} AS VARCHAR) AS id FROM read_parquet($path) "
                f"WHERE {column} IS NOT NULL GROUP BY 1 HAVING count(*) > 1",
                params={"path": str(path)},
            ).to_arrow_table()
        finally:
            connection.close()
    return found.column("id").combine_chunks().cast(pa.string())
