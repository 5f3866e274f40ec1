"""JSONL, CSV and in-memory corpora prepared a batch of documents at a time.

An id that repeats anywhere in the source rejects every row holding it, so the ids are
counted first (by DuckDB, in bounded memory); then each batch of rows is validated, hashed
(and cut into chunks), appended to the prepared file and dropped. Neither the documents nor
their chunks are ever all in memory, and the rows are the ones the whole-file readers
(`corpus.sources`) and `validate_corpus` give. Values are read as written (`corpus.jsonl`,
CSV as text), so there is no type inference to change an id.
"""

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from embed_assets.bigquery.client import is_bigquery_uri
from embed_assets.corpus.batches import BATCH_ROWS, prepare_parquet, repeated_values
from embed_assets.corpus.bigquery_source import read_bigquery_corpus
from embed_assets.corpus.chunk_rows import prepared_corpus
from embed_assets.corpus.chunking import Chunking
from embed_assets.corpus.jsonl import jsonl_frames
from embed_assets.corpus.plain_jsonl import NotPlain, may_be_plain, plain_frames
from embed_assets.corpus.prepared import PreparedCorpus, PreparedWriter, write_prepared
from embed_assets.corpus.sources import (
    PARQUET_SUFFIXES,
    STREAMED_SUFFIXES,
    csv_options,
    local_corpus_file,
    parse_errors,
    read_corpus_file,
)
from embed_assets.corpus.validation import (
    CheckedIds,
    CorpusColumns,
    ValidatedCorpus,
    check_columns,
    check_ids,
    validate_corpus,
)
from embed_assets.errors import ConfigError, CorpusError

# each batch of a source's rows validated
Validated = Iterator[ValidatedCorpus]


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
    wanted = [columns.id_column, columns.text_column, columns.title_column]
    names = list(dict.fromkeys(c for c in wanted if c))

    def write(validated: Validated) -> PreparedCorpus:
        return _written(
            validated,
            output,
            chunking=chunking,
            model=model,
            task_type=task_type,
            output_dimensionality=output_dimensionality,
        )

    with tempfile.TemporaryDirectory(prefix="embed-assets-") as work:
        batches = _SourceBatches(
            columns, names, source=source, batch_rows=batch_rows, parse_apart=chunking is None
        )
        if source_file is not None and source_file.suffix.lower() != ".csv":
            if may_be_plain(source_file, encoding):
                with contextlib.suppress(NotPlain):  # read exactly instead, from the start
                    return _prepared_jsonl(
                        batches, source_file, encoding, write, Path(work), plain=True
                    )
            return _prepared_jsonl(batches, source_file, encoding, write, Path(work), plain=False)
        ids = _IdCounter(Path(work) / "ids.parquet")
        if source_file is not None:
            present, validated = batches.of_csv(source_file, encoding, ids)
        elif frame is not None:
            present, validated = batches.of_frame(frame, ids)
        else:
            raise ConfigError("prepare_in_batches needs a source file or a frame")
        check_columns(pd.DataFrame(columns=present), columns, source=source)
        return write(validated)


def _prepared_jsonl(
    batches: "_SourceBatches",
    path: Path,
    encoding: str,
    write: Callable[[Validated], PreparedCorpus],
    work: Path,
    *,
    plain: bool,
) -> PreparedCorpus:
    """A JSONL file parsed once, its ids counted on the way; parsed again only when one repeats.

    Raises:
        NotPlain: `plain` was asked for a file only the exact reader reads as it should.
    """
    ids = _IdCounter(work / f"ids-{'plain' if plain else 'exact'}.parquet")
    try:
        keys: dict[str, None] = {}
        prepared = write(batches.of_jsonl(path, encoding, keys=keys, counted=ids, plain=plain))
        try:
            check_columns(pd.DataFrame(columns=list(keys)), batches.columns, source=batches.source)
        except CorpusError:
            Path(prepared.path).unlink(missing_ok=True)
            raise
        repeated = ids.repeated()
    finally:
        ids.discard()
    if not len(repeated):
        return prepared
    return write(batches.of_jsonl(path, encoding, keys={}, repeated=repeated, plain=plain))


def _written(
    validated: Validated,
    output: Path,
    *,
    chunking: Chunking | None,
    model: str,
    task_type: str | None,
    output_dimensionality: int | None,
) -> PreparedCorpus:
    """The validated batches hashed (and chunked) into `output`; none is left if one fails."""
    writer = PreparedWriter(output)
    first = 0
    try:
        for batch in validated:
            writer.write(
                prepared_corpus(
                    batch,
                    chunking=chunking,
                    model=model,
                    task_type=task_type,
                    output_dimensionality=output_dimensionality,
                    first_row=first,
                )
            )
            first += batch.source_rows
    except BaseException:  # a file that cannot be read leaves no prepared file
        with contextlib.suppress(Exception):
            writer.close()
        output.unlink(missing_ok=True)
        raise
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


# a batch's ids checked before the source's repeated ones are known
_NO_IDS = pa.array([], pa.string())


class _SourceBatches:
    """A source's rows validated a batch at a time, the ids that repeat anywhere refused.

    A JSONL file is validated as it is parsed, its ids counted on the way (no id is known
    to repeat until the end). A CSV file's id column, or a frame's, is counted first; then
    its rows are validated.
    """

    def __init__(
        self,
        columns: CorpusColumns,
        names: list[str],
        *,
        source: str,
        batch_rows: int,
        parse_apart: bool,
    ) -> None:
        self.columns = columns
        self.names = names  # the source columns read: id, text and title
        self.source = source
        self.batch_rows = batch_rows
        # a large JSONL file may be parsed in a reader process (not while chunks are cut on
        # every core: it was slower and held more memory then)
        self.parse_apart = parse_apart

    def of_jsonl(
        self,
        path: Path,
        encoding: str,
        *,
        keys: dict[str, None],
        repeated: pa.Array = _NO_IDS,
        counted: "_IdCounter | None" = None,
        plain: bool = False,
    ) -> Validated:
        """A JSONL file's batches, validated with `repeated` the ids that repeat.

        Args:
            path: the file.
            encoding: its text encoding.
            keys: filled with the keys, in the order lines give them (until every name is
                seen: they matter only to say which one is missing).
            repeated: the ids known to repeat.
            counted: where the ids are counted, if anywhere.
            plain: parsed by DuckDB (`corpus.plain_jsonl`), which raises `NotPlain` for a
                file it cannot read as the exact reader does.
        """

        def rows() -> Iterator[pd.DataFrame]:
            if plain:
                yield from plain_frames(
                    path, self.names, id_column=self.columns.id_column, batch_rows=self.batch_rows
                )
                keys.update(dict.fromkeys(self.names))  # each was seen (or NotPlain was raised)
                return
            frames = jsonl_frames(
                path,
                self.names,
                encoding=encoding,
                batch_lines=self.batch_rows,
                keys=keys,
                readers=None if self.parse_apart else 0,
            )
            with contextlib.closing(frames):  # a reader process stops with the caller
                while True:
                    with parse_errors(path.suffix.lower(), shown=self.source, encoding=encoding):
                        frame = next(frames, None)
                    if frame is None:
                        return
                    yield frame

        return self._or_empty(self._validated(rows(), repeated, counted))

    def of_csv(
        self, path: Path, encoding: str, counted: "_IdCounter"
    ) -> tuple[list[str], Validated]:
        """A CSV file's header and validated batches (its id column counted first)."""
        options = csv_options(encoding)
        id_column = self.columns.id_column
        with parse_errors(".csv", shown=self.source, encoding=encoding):
            present = [str(c) for c in pd.read_csv(path, nrows=0, **options).columns]
            if id_column in present:
                for chunk in pd.read_csv(
                    path, usecols=[id_column], chunksize=self.batch_rows, **options
                ):
                    counted.add(check_ids(chunk[id_column], repeated=_NO_IDS))
        repeated = counted.repeated()
        if not set(self.names) <= set(present):  # check_columns says which is missing
            return present, iter(())

        def rows() -> Iterator[pd.DataFrame]:
            chunks = pd.read_csv(path, usecols=self.names, chunksize=self.batch_rows, **options)
            while True:
                with parse_errors(".csv", shown=self.source, encoding=encoding):
                    chunk = next(chunks, None)
                if chunk is None:
                    return
                yield chunk

        return present, self._or_empty(self._validated(rows(), repeated))

    def of_frame(self, frame: pd.DataFrame, counted: "_IdCounter") -> tuple[list[str], Validated]:
        """An upstream asset's frame, validated a slice at a time."""
        present = [str(c) for c in frame.columns]
        if not set(self.names) <= set(present):
            return present, iter(())
        counted.add(check_ids(frame[self.columns.id_column], repeated=_NO_IDS))
        slices = (
            frame.iloc[start : start + self.batch_rows][self.names]
            for start in range(0, len(frame), self.batch_rows)
        )
        return present, self._or_empty(self._validated(slices, counted.repeated()))

    def _validated(
        self,
        batches: Iterator[pd.DataFrame],
        repeated: pa.Array,
        counted: "_IdCounter | None" = None,
    ) -> Validated:
        for batch in batches:
            batch = batch.reset_index(drop=True)
            checked = check_ids(batch[self.columns.id_column], repeated=repeated)
            if counted is not None:
                counted.add(checked)
            yield validate_corpus(batch, self.columns, source=self.source, checked_ids=checked)

    def _or_empty(self, batches: Validated) -> Validated:
        """The batches, or for a source of no rows one batch of none (the file's columns)."""
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            rows = pd.DataFrame({name: pd.Series([], dtype=object) for name in self.names})
            yield validate_corpus(rows, self.columns, source=self.source)


class _IdCounter:
    """Counts a source's ids in bounded memory.

    The ids go to a Parquet file a batch at a time; DuckDB then finds the repeated ones in
    it (`repeated_values`), as for a Parquet corpus.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._writer = pq.ParquetWriter(path, pa.schema([("id", pa.string())]))

    def add(self, checked: CheckedIds) -> None:
        """Counts a batch's ids as `check_ids` read them (a missing or unusable id does not)."""
        kept = pa.array(checked.ids, type=pa.string(), from_pandas=True)
        self._writer.write_table(pa.table({"id": kept.filter(pa.array(checked.reasons == None))}))  # noqa: E711

    def repeated(self) -> pa.Array:
        """The ids held by more than one row, as text."""
        self._writer.close()
        return repeated_values(self._path, "id")

    def discard(self) -> None:
        """Closes and removes the file, whether or not the count was finished."""
        with contextlib.suppress(Exception):
            self._writer.close()
        self._path.unlink(missing_ok=True)
