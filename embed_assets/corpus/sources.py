"""Reading a corpus source: JSONL, CSV or Parquet, from a local path or a `gs://` URI."""

import codecs
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain, islice
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from embed_assets.corpus.validation import CorpusError
from embed_assets.staging.files import storage_for

PARQUET_SUFFIXES = (".parquet", ".pq")
STREAMED_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv")  # read a batch at a time
SUPPORTED_SUFFIXES = (*STREAMED_SUFFIXES, *PARQUET_SUFFIXES)


def read_corpus_file(
    path_or_uri: str, *, gcs_client: object = None, encoding: str = "utf-8"
) -> pd.DataFrame:
    """Reads a JSONL, CSV or Parquet corpus from a local path or a gs:// URI.

    Args:
        path_or_uri: the file.
        gcs_client: a google-cloud-storage client for gs:// URIs (default: a new one).
        encoding: the text encoding of a CSV or JSONL file.

    Raises:
        CorpusError: the file does not exist, has an unknown suffix, or cannot be parsed.
    """
    suffix = Path(path_or_uri).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise CorpusError(
            f"corpus {path_or_uri}: unknown format {suffix or '(no suffix)'}; "
            "use .jsonl, .csv or .parquet"
        )
    with local_corpus_file(path_or_uri, gcs_client=gcs_client) as local:
        return _parse_corpus_file(local, suffix, shown=path_or_uri, encoding=encoding)


@contextmanager
def local_corpus_file(path_or_uri: str, *, gcs_client: object = None) -> Iterator[Path]:
    """The corpus as a local file: the path itself, or a `gs://` object downloaded.

    A download goes to a temporary folder (removed on exit), so the corpus is read from
    disk, never held whole in memory.

    Raises:
        CorpusError: the file or object does not exist.
    """
    if path_or_uri.startswith("gs://"):
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / f"corpus{Path(path_or_uri).suffix.lower()}"
            storage = storage_for(path_or_uri, gcs_client=gcs_client)
            if not storage.exists(path_or_uri):
                raise CorpusError(f"corpus {path_or_uri} does not exist")
            storage.download_file(path_or_uri, local)
            yield local
        return
    local = Path(path_or_uri)
    if not local.is_file():
        raise CorpusError(f"corpus file {path_or_uri} does not exist")
    yield local


def _parse_corpus_file(path: Path, suffix: str, *, shown: str, encoding: str) -> pd.DataFrame:
    with parse_errors(suffix, shown=shown, encoding=encoding):
        if suffix in (".csv",):
            return pd.read_csv(path, **csv_options(encoding))
        if suffix in PARQUET_SUFFIXES:
            # Arrow-backed columns: a million 500-character texts take 0.5 GB, not 1.1 GB
            return pd.read_parquet(path, dtype_backend="pyarrow")
        return _read_jsonl(path, encoding=encoding)


def csv_options(encoding: str) -> dict[str, Any]:
    """How a CSV corpus is read: every value the text it holds (no type or NA guessing)."""
    return {"dtype": str, "keep_default_na": False, "na_values": [], "encoding": encoding}


@contextmanager
def parse_errors(suffix: str, *, shown: str, encoding: str) -> Iterator[None]:
    """Turns whatever reading a corpus file raises into one `CorpusError` line naming it."""
    try:
        yield
    except UnicodeDecodeError:
        hint = "; try --encoding latin-1 (or the encoding field)" if encoding == "utf-8" else ""
        raise CorpusError(f"corpus file {shown} is not {encoding}{hint}") from None
    except CorpusError as error:
        raise CorpusError(f"corpus file {shown} cannot be parsed as JSONL: {error}") from None
    except Exception as error:
        kind = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet"}.get(suffix, "JSONL")
        first_line = (
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        )
        raise CorpusError(
            f"corpus file {shown} cannot be parsed as {kind}: {first_line}"
        ) from error


def _beyond_float(value: object) -> bool:
    """A float too large to hold every integer exactly (it may have been an integer)."""
    return isinstance(value, float) and abs(value) >= 2**53


def _read_jsonl(path: Path, *, encoding: str = "utf-8") -> pd.DataFrame:
    """Reads JSONL with every value exactly as written: one object column per key.

    pandas' own reader turns a column of integers with one fraction or gap into floats (and
    big integers lose digits); here an id stays the integer or text its line holds.

    Raises:
        CorpusError: a line is not a JSON object (the message names the line).
    """
    records = list(jsonl_records(path, encoding=encoding))
    columns = list(dict.fromkeys(key for record in records for key in record))
    return records_frame(records, columns)


def records_frame(records: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """JSONL records as a frame: one object column per name, None where a record lacks it."""
    return pd.DataFrame(
        {name: pd.Series([r.get(name) for r in records], dtype=object) for name in columns}
    )


def jsonl_records(path: Path, *, encoding: str = "utf-8") -> Iterator[dict[str, Any]]:
    """Each line's JSON object, as written (blank lines skipped); one batch in memory at a time.

    Raises:
        CorpusError: a line is not a JSON object (the message names the line).
    """
    for batch in jsonl_batches(path, encoding=encoding):
        yield from batch


def jsonl_batches(
    path: Path, *, encoding: str = "utf-8", batch_lines: int = 16_384
) -> Iterator[list[dict[str, Any]]]:
    """The file's JSON objects, as written (blank lines skipped), up to `batch_lines` at a time.

    A batch of UTF-8 lines is parsed by orjson in one call; a batch that fails that (a bad
    line, another encoding, an integer past 64 bits) is read line by line, which names the
    line and reads such integers exactly.

    Raises:
        CorpusError: a line is not a JSON object (the message names the line).
    """
    utf8 = codecs.lookup(encoding).name == "utf-8"  # orjson reads (and checks) UTF-8 bytes
    first = 1
    with path.open("rb") as stream:
        while lines := list(islice(stream, batch_lines)):
            records = _parsed_at_once(lines) if utf8 else None
            if records is None:
                records = [
                    _record(line, first + i, encoding, utf8=utf8)
                    for i, line in enumerate(lines)
                    if line.strip()
                ]
            first += len(lines)
            if records:
                yield records


def _parsed_at_once(lines: list[bytes]) -> list[dict[str, Any]] | None:
    """The lines' objects parsed in one call, or None where only line-by-line reading is sure."""
    filled = list(filter(None, map(bytes.strip, lines)))
    try:
        records = list(map(orjson.loads, filled))
    except orjson.JSONDecodeError:
        return None
    if not {dict}.issuperset(map(type, records)):
        return None
    if float in set(map(type, chain.from_iterable(map(dict.values, records)))):
        records = [_exact(record, line) for record, line in zip(records, filled, strict=True)]
    return records


def _exact(record: Any, line: bytes | str) -> Any:
    """The record with integers past 64 bits read exactly (orjson reads them as floats)."""
    if (
        isinstance(record, dict)
        and float in map(type, record.values())
        and any(_beyond_float(v) for v in record.values())
    ):
        return json.loads(line)
    return record


def _record(line: bytes, number: int, encoding: str, *, utf8: bool) -> dict[str, Any]:
    """One line's object, read exactly; the error names the line."""
    try:
        record = orjson.loads(line if utf8 else _decoded(line, number, encoding))
    except orjson.JSONDecodeError as error:
        _decoded(line, number, encoding)  # a line that is not `encoding` says so
        raise CorpusError(f"line {number} is not valid JSON ({error})") from None
    record = _exact(record, line if utf8 else _decoded(line, number, encoding))
    if not isinstance(record, dict):
        raise CorpusError(f"line {number} is not a JSON object")
    return record


def _decoded(line: bytes, number: int, encoding: str) -> str:
    try:
        return line.decode(encoding)
    except UnicodeDecodeError:
        hint = "; try --encoding latin-1 (or the encoding field)" if encoding == "utf-8" else ""
        raise CorpusError(f"line {number} is not {encoding}{hint}") from None
