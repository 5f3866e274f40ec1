"""Reading a corpus source: JSONL, CSV or Parquet, from a local path or a `gs://` URI."""

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from embed_assets.corpus.jsonl import jsonl_records
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
