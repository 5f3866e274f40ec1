"""Loading, validation, hashing and sharding of a text corpus.

A corpus is normalized to `id, content[, title]`. Rows that cannot be embedded are never
dropped silently: each goes to the rejected table with its reason. Every accepted row gets a
`content_hash`, a digest of everything that changes its vector (model, task type,
dimensionality, title, text), so the store can tell exactly what needs embedding again.
"""

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

CorpusLoader = Callable[[], pd.DataFrame]

REASON_MISSING_ID = "missing id"
REASON_DUPLICATE_ID = "duplicate id"
REASON_MISSING_CONTENT = "missing content"
REASON_NOT_TEXT = "content is not text"
REASON_EMPTY_CONTENT = "empty or whitespace-only content"

SUPPORTED_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".parquet", ".pq")


class CorpusError(ValueError):
    """The corpus cannot be read: missing file, unparseable file, or missing columns."""


@dataclass(frozen=True)
class CorpusColumns:
    """Which source columns hold the id, the text and (optionally) the title."""

    id_column: str = "id"
    text_column: str = "content"
    title_column: str | None = None


@dataclass(frozen=True)
class ValidatedCorpus:
    """A corpus split into rows that can be embedded and rows that cannot.

    Attributes:
        accepted: columns `id` (str), `content` (str), `title` (str or None), `content_hash`.
        rejected: columns `row` (position in the source), `id` (str or None), `reason`.
        source_rows: rows read from the source.
    """

    accepted: pd.DataFrame
    rejected: pd.DataFrame
    source_rows: int

    def rejected_summary(self, *, examples: int = 5) -> dict[str, dict[str, object]]:
        """Returns, per reason, the count and a few example rows (position and id)."""
        summary: dict[str, dict[str, object]] = {}
        for reason, group in self.rejected.groupby("reason", sort=True):
            sample = group.head(examples)
            summary[str(reason)] = {
                "count": len(group),
                "examples": [
                    {"row": int(r), "id": i}
                    for r, i in zip(sample["row"], sample["id"], strict=True)
                ],
            }
        return summary


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
        from embed_assets.storage import storage_for

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
            return pd.read_parquet(path)
        return pd.read_json(path, lines=True, dtype=False)
    except Exception as error:
        kind = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet"}.get(suffix, "JSONL")
        first_line = (
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        )
        raise CorpusError(
            f"corpus file {shown} cannot be parsed as {kind}: {first_line}"
        ) from error


def check_columns(frame: pd.DataFrame, columns: CorpusColumns, *, source: str) -> None:
    """Raises `CorpusError` naming the source and the columns it has when one is missing."""
    wanted = [columns.id_column, columns.text_column]
    if columns.title_column:
        wanted.append(columns.title_column)
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns)) or "(none)"
        raise CorpusError(
            f"corpus {source} has no column {', '.join(repr(m) for m in missing)}; "
            f"its columns are: {have}"
        )


def _normalize_ids(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Returns ids as strings and a mask of rows whose id is missing."""
    if pd.api.types.is_float_dtype(values) and values.dropna().apply(float.is_integer).all():
        values = values.astype("Int64")  # ids that became floats because of a gap
    missing = values.isna().to_numpy()
    as_text = values.astype("string").str.strip()
    missing |= (as_text.fillna("") == "").to_numpy()
    return as_text.astype(object).where(~missing, None), missing


def validate_corpus(frame: pd.DataFrame, columns: CorpusColumns, *, source: str) -> ValidatedCorpus:
    """Normalizes a raw corpus to `id, content, title` and rejects rows that cannot be embedded.

    A row is rejected, with the first reason that applies, when its id is missing, its id
    appears more than once (every such row: the source is ambiguous), its content is missing,
    not text, or empty after stripping white space.

    Raises:
        CorpusError: a named column is missing.
    """
    check_columns(frame, columns, source=source)
    rows = len(frame)
    ids, missing_id = _normalize_ids(frame[columns.id_column].reset_index(drop=True))
    content = frame[columns.text_column].reset_index(drop=True)
    reasons = np.full(rows, None, dtype=object)
    reasons[missing_id] = REASON_MISSING_ID
    duplicated = ids.duplicated(keep=False).to_numpy() & ~missing_id
    reasons[duplicated & (reasons == None)] = REASON_DUPLICATE_ID  # noqa: E711
    is_text = content.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    is_missing = content.isna().to_numpy()
    reasons[is_missing & (reasons == None)] = REASON_MISSING_CONTENT  # noqa: E711
    reasons[~is_text & ~is_missing & (reasons == None)] = REASON_NOT_TEXT  # noqa: E711
    stripped_empty = np.zeros(rows, dtype=bool)
    stripped_empty[is_text] = content[is_text].str.strip().eq("").to_numpy()
    reasons[stripped_empty & (reasons == None)] = REASON_EMPTY_CONTENT  # noqa: E711
    ok = reasons == None  # noqa: E711
    titles: pd.Series
    if columns.title_column:
        raw_titles = frame[columns.title_column].reset_index(drop=True)
        titles = raw_titles.map(lambda v: None if v is None or v != v or v == "" else str(v))
    else:
        titles = pd.Series([None] * rows, dtype=object)
    accepted = pd.DataFrame(
        {"id": ids[ok].astype(str), "content": content[ok], "title": titles[ok]}
    ).reset_index(drop=True)
    positions = np.flatnonzero(~ok)
    rejected = pd.DataFrame(
        {"row": positions, "id": ids.to_numpy()[positions], "reason": reasons[positions]}
    )
    return ValidatedCorpus(accepted=accepted, rejected=rejected, source_rows=rows)


def content_hashes(
    contents: "pd.Series | list[str]",
    titles: "pd.Series | list[str | None]",
    *,
    model: str,
    task_type: str | None,
    output_dimensionality: int | None,
) -> list[str]:
    """Digests everything that changes a vector: model, task type, dimensionality, title, text."""
    prefix = f"{model}\x1f{task_type or ''}\x1f{output_dimensionality or ''}\x1f".encode()
    sha = hashlib.sha256
    return [
        sha(prefix + (title or "").encode() + b"\x1f" + text.encode()).hexdigest()
        for text, title in zip(contents, titles, strict=True)
    ]


def shard_ranges(count: int, max_per_shard: int) -> Iterator[tuple[int, int]]:
    """Splits `count` rows into consecutive (start, stop) ranges of at most `max_per_shard`."""
    if max_per_shard < 1:
        raise ValueError(f"max_prompts_per_job must be at least 1, got {max_per_shard}")
    shards = -(-count // max_per_shard)
    size = -(-count // shards) if shards else 0  # balanced shards
    for start in range(0, count, size or 1):
        yield start, min(start + size, count)


def normalized_corpus(
    validated: ValidatedCorpus,
    *,
    model: str,
    task_type: str | None,
    output_dimensionality: int | None,
) -> pd.DataFrame:
    """Returns every source row as `row, id, content, title, content_hash, reason`.

    Accepted rows have a `content_hash` and no `reason`; rejected rows the reverse.
    """
    accepted = validated.accepted
    hashes = content_hashes(
        accepted["content"],
        accepted["title"],
        model=model,
        task_type=task_type,
        output_dimensionality=output_dimensionality,
    )
    ok_rows = np.setdiff1d(np.arange(validated.source_rows), validated.rejected["row"].to_numpy())
    good = pd.DataFrame(
        {
            "row": ok_rows,
            "id": accepted["id"].to_numpy(),
            "content": accepted["content"].to_numpy(),
            "title": accepted["title"].to_numpy(),
            "content_hash": hashes,
            "reason": None,
        }
    )
    bad = pd.DataFrame(
        {
            "row": validated.rejected["row"].to_numpy(),
            "id": validated.rejected["id"].to_numpy(),
            "content": None,
            "title": None,
            "content_hash": None,
            "reason": validated.rejected["reason"].to_numpy(),
        }
    )
    frame = pd.concat([good, bad], ignore_index=True) if len(bad) else good
    return frame.sort_values("row", kind="stable").reset_index(drop=True)
