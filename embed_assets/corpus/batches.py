"""A Parquet corpus prepared a batch of documents at a time.

A text is needed in memory only while it is validated, hashed (and cut into chunks); after
that, only the few the batch job submits are read again. `prepare_parquet` reads the id column
whole (an id that repeats anywhere in the file rejects every row holding it), then the
documents in batches of `BATCH_ROWS`, and puts each batch's texts in a temporary file that
the corpus's `content` column maps, so neither the documents nor their chunks are ever all in
memory. The rows are the ones the whole file gives when read at once.
"""

import contextlib
import ctypes
import mmap
import os
import tempfile
import weakref
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from embed_assets.corpus.chunking import Chunking, arrow_chunks, utf8_buffers
from embed_assets.corpus.chunks import prepared_corpus
from embed_assets.corpus.hashing import arrow_strings
from embed_assets.corpus.validation import (
    CorpusColumns,
    CorpusError,
    ValidatedCorpus,
    check_columns,
    check_ids,
    is_string_dtype,
    validate_corpus,
)

# about 80 MB of documents of 5,000 characters: enough for every core to cut at once
BATCH_ROWS = 16_384
# columns kept as Arrow strings across batches (not Python objects)
_ARROW_COLUMNS = ("id", "content_hash", "document_id")
_SPILL_SCHEMA = pa.schema([("text", pa.large_string())])
_MADV_WILLNEED = getattr(mmap, "MADV_WILLNEED", None)
_MADVISE = getattr(ctypes.CDLL(None), "madvise", None) if _MADV_WILLNEED is not None else None
_MADV_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)
# the address ranges of the spill files' mappings, while they are mapped: only pages of a
# shared file mapping may be given back (the file keeps their bytes; anonymous memory does not)
_MAPPED: dict[int, tuple[int, int]] = {}


def prepare_parquet(
    path: Path,
    *,
    columns: CorpusColumns,
    source: str,
    chunking: Chunking | None,
    model: str,
    task_type: str | None,
    output_dimensionality: int | None,
    batch_rows: int = BATCH_ROWS,
) -> pd.DataFrame:
    """A local Parquet corpus validated, hashed (and chunked) a batch of documents at a time.

    The texts (the documents', or with chunking the chunks'), once hashed, go to a temporary
    file that is memory-mapped and unlinked at once: they take disk, not memory, and only the
    texts read later (the prompts) are read from it.

    Args:
        path: the Parquet file.
        columns: which columns hold the id, the text and the title.
        source: the source, for messages.
        chunking: the pipeline's chunking, if any.
        model: the model the texts are embedded with.
        task_type: the task type (part of each text's hash).
        output_dimensionality: the dimensionality (part of each text's hash).
        batch_rows: documents read at a time.

    Returns:
        What `prepared_corpus` returns for the whole file.

    Raises:
        CorpusError: the file cannot be read as Parquet, or a named column is missing.
    """
    parts = []
    with _TextSpill() as spill:
        for first, validated in _validated_batches(
            path, columns, source=source, batch_rows=batch_rows
        ):
            part = prepared_corpus(
                validated,
                chunking=chunking,
                model=model,
                task_type=task_type,
                output_dimensionality=output_dimensionality,
                first_row=first,
            )
            if not is_string_dtype(validated.rows["content"]):
                return part  # a column of no text is one batch (see below): every row rejected
            spill.write(arrow_strings(part["content"]))
            order = list(part.columns)
            parts.append(part.drop(columns="content"))
        # the pool kept the last batch's memory for the next one to reuse (fresh pages cost
        # more to fault than to reuse); with the documents read, it goes back to the system
        pa.default_memory_pool().release_unused()
        frame = _concatenated(parts)
        frame["content"] = pd.Series(pd.arrays.ArrowExtensionArray(spill.mapped()), copy=False)
    return frame[order]


class _TextSpill:
    """Texts written to a temporary Arrow file, read back memory-mapped (zero-copy).

    A thread of its own writes each batch, flushes it to disk and drops it from the page
    cache while the next batch is cut, so that reading 1 % of the texts later maps 1 % of the
    file into this process, not all of it (the kernel maps the cached pages around every page
    it reads in).
    """

    def __init__(self) -> None:
        handle, self.path = tempfile.mkstemp(prefix="embed-assets-chunks-", suffix=".arrow")
        os.close(handle)
        self._sink = pa.OSFile(self.path, "wb")
        self._writer = pa.ipc.new_file(self._sink, _SPILL_SCHEMA)
        self._thread = ThreadPoolExecutor(max_workers=1)
        self._pending: list[Future[None]] = []

    def __enter__(self) -> "_TextSpill":
        return self

    def __exit__(self, *_: object) -> None:
        self._finish()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def write(self, texts: pa.Array | pa.ChunkedArray) -> None:
        """Appends texts (string or large_string), in the background."""
        if self._pending:
            self._pending.pop().result()  # one batch in flight: its texts are in memory
        self._pending.append(self._thread.submit(self._write, texts))

    def _write(self, texts: pa.Array | pa.ChunkedArray) -> None:
        starts = []
        for chunk in arrow_chunks(_large(texts)):
            starts.append(self._sink.tell())
            self._writer.write_batch(pa.record_batch([chunk], schema=_SPILL_SCHEMA))
        self._sink.flush()
        if hasattr(os, "posix_fadvise"):
            handle = self._sink.fileno()
            os.fdatasync(handle)  # a dirty page cannot be dropped from the cache
            # each batch's first page (its metadata, read when the file is opened) stays cached
            for start, stop in zip(starts, [*starts[1:], self._sink.tell()], strict=True):
                first = (start // mmap.PAGESIZE + 1) * mmap.PAGESIZE
                if stop > first:
                    os.posix_fadvise(handle, first, stop - first, os.POSIX_FADV_DONTNEED)

    def mapped(self) -> pa.ChunkedArray:
        """Every text written, memory-mapped; the file is unlinked (the mapping keeps it)."""
        self._finish()
        with open(self.path, "rb") as file:
            mapping = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        os.unlink(self.path)
        whole = pa.py_buffer(mapping)
        _MAPPED[id(mapping)] = (whole.address, whole.address + whole.size)
        weakref.finalize(mapping, _MAPPED.pop, id(mapping), None)  # unmapped with its last use
        return pa.ipc.open_file(whole).read_all().column("text")

    def _finish(self) -> None:
        try:
            for pending in self._pending:
                pending.result()
        finally:
            self._pending.clear()
            self._thread.shutdown()
            if not self._sink.closed:
                self._writer.close()
                self._sink.close()


def will_read(texts: pa.Array, rows: npt.NDArray[np.int64]) -> None:
    """Asks the kernel to bring in the pages of these texts now, all at once.

    The texts of `prepare_parquet` are a memory-mapped file that is not in the page cache:
    read one by one, each text waits for its own disk read. Elsewhere this costs a few
    system calls and changes nothing.
    """
    if _MADVISE is None or not len(rows):
        return
    offsets, data = utf8_buffers(texts)
    starts = data.address + offsets[rows]
    firsts = starts - starts % mmap.PAGESIZE
    lengths = np.maximum(data.address + offsets[rows + 1] - firsts, 1)
    for first, length in zip(firsts.tolist(), lengths.tolist(), strict=True):
        _MADVISE(ctypes.c_void_p(first), ctypes.c_size_t(length), _MADV_WILLNEED)


def done_reading(texts: pa.Array) -> None:
    """Gives back the pages of these texts that reading them mapped into the process.

    The kernel maps the cached pages around every page a read touches, so taking 1 % of a
    memory-mapped corpus's texts mapped all of it (490 MB of RSS at 1,000,000 documents).
    Done chunk by chunk, the process holds one chunk's pages at a time. Texts that are not
    in a spill file's mapping are left alone.
    """
    if _MADVISE is None or _MADV_DONTNEED is None or not len(texts):
        return
    offsets, data = utf8_buffers(texts)
    first = data.address + int(offsets[0])
    stop = data.address + int(offsets[-1])
    if not any(low <= first and stop <= high for low, high in list(_MAPPED.values())):
        return
    first -= first % mmap.PAGESIZE
    if stop > first:
        _MADVISE(ctypes.c_void_p(first), ctypes.c_size_t(stop - first), _MADV_DONTNEED)


def _validated_batches(
    path: Path, columns: CorpusColumns, *, source: str, batch_rows: int
) -> Iterator[tuple[int, ValidatedCorpus]]:
    """Each batch of rows validated, with the position of its first row in the file."""
    try:
        file = pq.ParquetFile(path)
        check_columns(pd.DataFrame(columns=file.schema_arrow.names), columns, source=source)
        ids = file.read(columns=[columns.id_column]).column(0)
        checked = check_ids(pd.Series(pd.arrays.ArrowExtensionArray(ids), copy=False))
        del ids
        text = file.schema_arrow.field(columns.text_column).type
        if not (pa.types.is_string(text) or pa.types.is_large_string(text)):
            batch_rows = max(1, file.metadata.num_rows)  # not text: rejected as it is, at once
        wanted = [columns.id_column, columns.text_column, columns.title_column]
        names = list(dict.fromkeys(c for c in wanted if c))
        first = 0
        for batch in _tables(file, names, batch_rows=batch_rows):
            frame = batch.to_pandas(types_mapper=pd.ArrowDtype)
            stop = first + len(frame)
            yield (
                first,
                validate_corpus(
                    frame, columns, source=source, checked_ids=checked.rows(first, stop)
                ),
            )
            first = stop
            del frame, batch
        if first == 0:  # no rows: the columns alone
            empty = file.schema_arrow.empty_table().select(names)
            frame = empty.to_pandas(types_mapper=pd.ArrowDtype)
            yield 0, validate_corpus(frame, columns, source=source)
    except (OSError, pa.ArrowException) as error:
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


def _concatenated(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The batches' rows as one frame; text columns stay Arrow, one chunk per batch."""
    if len(parts) == 1:
        return parts[0]
    columns: dict[str, pd.Series] = {}
    for name in parts[0].columns:
        if name in _ARROW_COLUMNS:  # (a corpus without chunks has no document_id)
            pieces = [_large(arrow_strings(part[name])) for part in parts]
            chunks = [chunk for piece in pieces for chunk in arrow_chunks(piece)]
            column = pa.chunked_array(chunks, type=pa.large_string())
            columns[name] = pd.Series(pd.arrays.ArrowExtensionArray(column), copy=False)
        else:  # column by column: a frame's concat looks at every value of an object column
            columns[name] = pd.concat([part[name] for part in parts], ignore_index=True)
    return pd.DataFrame(columns)


def _large(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return values if pa.types.is_large_string(values.type) else values.cast(pa.large_string())
