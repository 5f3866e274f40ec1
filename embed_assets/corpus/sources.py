"""Reading a corpus source: JSONL, CSV or Parquet, from a local path or a `gs://` URI."""

import tempfile
from pathlib import Path

import pandas as pd

from embed_assets.corpus.validation import CorpusError
from embed_assets.staging import storage_for

SUPPORTED_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".parquet", ".pq")


def read_corpus_file(path_or_uri: str, *, gcs_client: object = None) -> pd.DataFrame:
    """Reads a JSONL, CSV or Parquet corpus from a local path or a gs:// URI.

    Raises:
        CorpusError: the file does not exist, has an unknown suffix, or cannot be parsed.
    """
    suffix = Path(path_or_uri).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise CorpusError(
            f"corpus {path_or_uri}: unknown format {suffix or '(no suffix)'}; "
            "use .jsonl, .csv or .parquet"
        )
    if path_or_uri.startswith("gs://"):
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / f"corpus{suffix}"
            storage = storage_for(path_or_uri, gcs_client=gcs_client)
            if not storage.exists(path_or_uri):
                raise CorpusError(f"corpus {path_or_uri} does not exist")
            storage.download_file(path_or_uri, local)
            return _parse_corpus_file(local, suffix, shown=path_or_uri)
    local = Path(path_or_uri)
    if not local.is_file():
        raise CorpusError(f"corpus file {path_or_uri} does not exist")
    return _parse_corpus_file(local, suffix, shown=path_or_uri)


def _parse_corpus_file(path: Path, suffix: str, *, shown: str) -> pd.DataFrame:
    try:
        if suffix in (".csv",):
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[])
        if suffix in (".parquet", ".pq"):
            # Arrow-backed columns: a million 500-character texts take 0.5 GB, not 1.1 GB
            return pd.read_parquet(path, dtype_backend="pyarrow")
        return pd.read_json(path, lines=True, dtype=False)
    except Exception as error:
        kind = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet"}.get(suffix, "JSONL")
        first_line = (
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        )
        raise CorpusError(
            f"corpus file {shown} cannot be parsed as {kind}: {first_line}"
        ) from error
