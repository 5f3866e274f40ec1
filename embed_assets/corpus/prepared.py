"""A prepared corpus kept in a Parquet file: every row validated, hashed (and chunked).

The in-process path writes its prepared rows here a batch at a time and passes on this
handle, not the rows: the diff against the table, the manifest and the shards are DuckDB
statements over the file (`placements.process.plan`), so no step holds the corpus in memory. The file's
rows are those `corpus.chunk_rows.prepared_corpus` returns: `row, id, content, title,
content_hash, reason`, and the chunk position columns when the corpus is chunked.

A local Parquet corpus leaves its texts there (`SourceTexts`): the prepared file's `content`
is empty, and the texts to embed (documents, or chunks by their character offsets) are read
back from the source by row, then checked against their hashes (`placements.process.plan`). Encoding every
text again took a third of the preparation's CPU, and the file four times the disk.
"""

import hashlib
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from embed_assets.corpus.hashing import arrow_strings

EXAMPLES = 5
# the file's column types: text as large strings, so a batch of long texts never overflows
PREPARED_TYPES = {
    "row": pa.int64(),
    "id": pa.large_string(),
    "content": pa.large_string(),
    "title": pa.large_string(),
    "content_hash": pa.string(),
    "reason": pa.string(),
    "document_id": pa.large_string(),
    "chunk_index": pa.int64(),
    "chunk_start": pa.int64(),
    "chunk_end": pa.int64(),
}
# rows per row group: small enough that reading one back costs tens of megabytes
ROW_GROUP_ROWS = 65_536


def _no_examples() -> pd.DataFrame:
    return pd.DataFrame({"row": [], "id": [], "reason": []})


@dataclass(frozen=True)
class SourceTexts:
    """The texts of a prepared corpus, left in its source: a local Parquet file.

    Row `r` of the prepared file (its `row` column) is row `r` of the source file.

    Attributes:
        path: the source Parquet file (absolute).
        column: the column holding the texts.
        hash_prefix: what each content hash was computed with before the title and the text
            (`corpus.hashing.hash_prefix`), to check a text read back against its hash.
    """

    path: str
    column: str
    hash_prefix: str


class RowCounts:
    """`rejected` and `accepted` of a corpus that counts its `rows` and `rejected_by_reason`."""

    rows: int
    rejected_by_reason: dict[str, int]

    @property
    def rejected(self) -> int:
        """Rows rejected by validation."""
        return sum(self.rejected_by_reason.values())

    @property
    def accepted(self) -> int:
        """Rows that can be embedded."""
        return self.rows - self.rejected


@dataclass(frozen=True)
class PreparedCorpus(RowCounts):
    """A corpus's prepared rows in a local Parquet file, with their counts.

    Attributes:
        path: the Parquet file.
        rows: rows in it: the source's rows, or with chunking the accepted documents'
            chunks and the rejected documents.
        documents: rows the source had.
        rejected_by_reason: rejected rows counted per reason.
        chunked: whether accepted rows are chunks.
        version: a fingerprint of the (id, content hash or reason) set; order-free.
        rejected_examples: the first few rejected rows (`row, id, reason`).
        texts: where the texts are when the file does not hold them (a local Parquet
            corpus), else None.
    """

    path: str
    rows: int
    documents: int
    rejected_by_reason: dict[str, int]
    chunked: bool
    version: str
    rejected_examples: pd.DataFrame = field(default_factory=_no_examples)
    texts: SourceTexts | None = None

    def read(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The rows as one frame of Arrow-backed columns, texts included (small corpora, tests)."""
        table = pq.read_table(self.path, columns=columns)
        at = table.schema.get_field_index("content")
        if self.texts is not None and at >= 0:
            places = ["row", "chunk_start", "chunk_end"] if self.chunked else ["row"]
            # the rows' places, from the table read when it has them (all columns were asked)
            held = all(name in table.column_names for name in places)
            keys = table if held else pq.read_table(self.path, columns=places)
            table = table.set_column(at, "content", _texts_read_back(keys, self.texts))
        return table.to_pandas(types_mapper=pd.ArrowDtype)


def _texts_read_back(table: pa.Table, texts: SourceTexts) -> pa.Array:
    """Each row's text from the source: its document's, or its chunk's part of it.

    `table` holds the rows' `row` (and a chunk's `chunk_start, chunk_end`).
    """
    documents = pq.read_table(texts.path, columns=[texts.column]).column(0).to_pylist()
    rows = table.column("row").to_pylist()
    if "chunk_start" not in table.column_names:
        return pa.array([documents[row] for row in rows], PREPARED_TYPES["content"])
    starts = table.column("chunk_start").to_pylist()
    ends = table.column("chunk_end").to_pylist()
    found = [
        documents[row] if start is None or documents[row] is None else documents[row][start:end]
        for row, start, end in zip(rows, starts, ends, strict=True)
    ]
    return pa.array(found, PREPARED_TYPES["content"])


class PreparedWriter:
    """Writes prepared batches (frames as `prepared_corpus` returns them) to one Parquet file.

    Counts, reasons and a few rejected examples are kept as the batches pass; nothing per
    row stays in memory.
    """

    def __init__(self, path: Path | str, *, texts: SourceTexts | None = None) -> None:
        """Writes to `path`; with `texts`, the texts stay in the source and `content` is empty."""
        self.path = Path(path)
        self.texts = texts
        self._writer: pq.ParquetWriter | None = None
        self._names: list[str] = []  # the first batch's columns
        self._rows = 0
        self._digests = 0
        self._documents = 0
        self._last_row = -1  # the source row of the last row written
        self._reasons: Counter[str] = Counter()
        self._examples: list[pd.DataFrame] = []
        # a thread of its own encodes each batch while the next one is prepared
        self._thread = ThreadPoolExecutor(max_workers=1)
        self._pending: Future[int] | None = None
        self._connection = duckdb.connect()

    def write(self, frame: pd.DataFrame) -> None:
        """Appends one batch; every batch has the first one's columns."""
        table = prepared_table(frame, with_texts=self.texts is None)
        if self._writer is None:
            self._names = table.schema.names
            self._writer = pq.ParquetWriter(self.path, table.schema, use_dictionary=["reason"])
        self._wait()  # one batch in flight: its rows are in memory
        self._pending = self._thread.submit(self._encode, self._writer, table.select(self._names))
        self._rows += len(frame)
        # a document's rows (its chunks) follow each other: a new source row is a new document
        rows = frame["row"].to_numpy()
        if len(rows):
            self._documents += int((rows[1:] != rows[:-1]).sum()) + int(rows[0] != self._last_row)
            self._last_row = int(rows[-1])
        rejected = frame.loc[frame["reason"].notna(), ["row", "id", "reason"]]
        self._reasons.update(rejected["reason"].astype(str).tolist())
        if sum(len(e) for e in self._examples) < EXAMPLES and len(rejected):
            self._examples.append(rejected.head(EXAMPLES).astype({"id": object}))

    def _encode(self, writer: pq.ParquetWriter, table: pa.Table) -> int:
        writer.write_table(table, ROW_GROUP_ROWS)
        return row_digest_sum(table, self._connection)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._digests += pending.result()

    def close(self) -> PreparedCorpus:
        """Finishes the file and returns it, fingerprinted."""
        try:
            self._wait()
        finally:
            self._thread.shutdown()
            self._connection.close()
        if self._writer is None:  # no batch at all: an empty file of the plain columns
            plain = pa.schema([(n, PREPARED_TYPES[n]) for n in PREPARED_TYPES][:6])
            self._writer = pq.ParquetWriter(self.path, plain)
        self._writer.close()
        examples = (
            pd.concat(self._examples, ignore_index=True).head(EXAMPLES)
            if self._examples
            else _no_examples()
        )
        return PreparedCorpus(
            path=str(self.path),
            rows=self._rows,
            documents=self._documents,
            rejected_by_reason=dict(sorted(self._reasons.items())),
            chunked="chunk_start" in self._names,
            version=corpus_version(self._rows, self._digests),
            rejected_examples=examples,
            texts=self.texts,
        )


def write_prepared(
    frame: pd.DataFrame, path: Path | str, *, batch_rows: int = 262_144
) -> PreparedCorpus:
    """A prepared frame (from `prepared_corpus`) written to `path`, a slice at a time."""
    writer = PreparedWriter(path)
    for first in range(0, max(len(frame), 1), batch_rows):  # an empty frame gives its columns
        writer.write(frame.iloc[first : first + batch_rows])
    return writer.close()


def prepared_table(frame: pd.DataFrame, *, with_texts: bool = True) -> pa.Table:
    """A prepared frame's columns as Arrow, of the file's types (text not as Python objects).

    Without `with_texts` the `content` column is empty (the texts stay in the source).
    """
    columns = {}
    for name in frame.columns:
        kind = PREPARED_TYPES.get(str(name))
        if kind is None:
            continue
        values = frame[name]
        if pa.types.is_large_string(kind) or pa.types.is_string(kind):
            if name == "content" and not with_texts:
                array = pa.nulls(len(frame), kind)
            elif name == "content" and not _holds_text(values):
                # numbers, lists or structs among the texts: those rows are rejected, and only
                # the texts are kept
                texts = [v if isinstance(v, str) else None for v in values.tolist()]
                array = pa.array(texts, type=kind)
            else:
                array = arrow_strings(values).cast(kind)
        else:
            array = pa.array(values.astype("Int64"), type=kind, from_pandas=True)
        columns[str(name)] = array
    return pa.table(columns)


def _holds_text(values: pd.Series) -> bool:
    if isinstance(values.dtype, pd.ArrowDtype):
        kind = values.dtype.pyarrow_dtype
        return pa.types.is_string(kind) or pa.types.is_large_string(kind)
    return isinstance(values.dtype, pd.StringDtype) or all(
        v is None or isinstance(v, str) for v in values.tolist()
    )


def row_digest_sum(table: pa.Table, connection: duckdb.DuckDBPyConnection) -> int:
    """The sum of each row's 64-bit hash of `id` and its content hash (or rejection reason).

    A sum, not an XOR, so two equal rows do not cancel; order-free, so a batch's sum adds to
    the others'. DuckDB's `hash` takes 40 ms for a million rows (SHA-256 took 1.6 s); a DuckDB
    release that changed it would give each corpus a new version once (a refresh that finds
    nothing new to pay for).
    """
    connection.register("prepared_batch", table.select(["id", "content_hash", "reason"]))
    try:
        ((total,),) = connection.execute(
            "SELECT COALESCE(sum(hash(COALESCE(id, ''), COALESCE(content_hash, 'rejected: ' "
            "|| COALESCE(reason, '')))::HUGEINT), 0) FROM prepared_batch"
        ).fetchall()
    finally:
        connection.unregister("prepared_batch")
    return int(total) % 2**64


def corpus_version(rows: int, digest_sum: int) -> str:
    """The version of a prepared corpus from its row count and `row_digest_sum`s (mod 2**64)."""
    text = f"{rows}\x1f{digest_sum % 2**64:016x}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]
