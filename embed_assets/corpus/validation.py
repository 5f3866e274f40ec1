"""Loading, validation, hashing and sharding of a text corpus.

A corpus is normalized to `id, content[, title]`. Rows that cannot be embedded are never
dropped silently: each goes to the rejected table with its reason. Every accepted row gets a
`content_hash`, a digest of everything that changes its vector (model, task type,
dimensionality, title, text), so the store can tell exactly what needs embedding again.
"""

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
        rows: every source row in source order: `id` (str or None), `content`, `title`
            (str or None), `reason` (None when the row is accepted). The text column is the
            source's own, not a copy.
        rejected: columns `row` (position in the source), `id` (str or None), `reason`.
        source_rows: rows read from the source.
    """

    rows: pd.DataFrame
    rejected: pd.DataFrame
    source_rows: int

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        """Mask of the accepted rows."""
        return self.rows["reason"].isna().to_numpy()

    @property
    def accepted(self) -> pd.DataFrame:
        """The accepted rows: `id` (str), `content` (str), `title` (str or None)."""
        return self.rows.loc[self.ok, ["id", "content", "title"]].reset_index(drop=True)

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
    is_missing = content.isna().to_numpy()
    if _is_string_dtype(content):
        is_text = ~is_missing
        blank = _blank_arrow(content) if isinstance(content.dtype, pd.ArrowDtype) else None
    else:
        is_text = content.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        blank = None
    reasons[is_missing & (reasons == None)] = REASON_MISSING_CONTENT  # noqa: E711
    reasons[~is_text & ~is_missing & (reasons == None)] = REASON_NOT_TEXT  # noqa: E711
    if blank is None:  # one check per text; no stripped copy of the corpus is made
        blank = np.zeros(rows, dtype=bool)
        blank[is_text] = [not v or v.isspace() for v in content[is_text]]
    reasons[blank & is_text & (reasons == None)] = REASON_EMPTY_CONTENT  # noqa: E711
    if columns.title_column:
        raw_titles = frame[columns.title_column].reset_index(drop=True)
        titles = raw_titles.map(lambda v: None if v is None or v != v or v == "" else str(v))
    else:
        titles = pd.Series([None] * rows, dtype=object)
    ok = reasons == None  # noqa: E711
    positions = np.flatnonzero(~ok)
    rejected = pd.DataFrame(
        {"row": positions, "id": ids.to_numpy()[positions], "reason": reasons[positions]}
    )
    every_row = pd.DataFrame({"id": ids, "content": content, "title": titles, "reason": reasons})
    return ValidatedCorpus(rows=every_row, rejected=rejected, source_rows=rows)


def _is_string_dtype(values: pd.Series) -> bool:
    if isinstance(values.dtype, pd.ArrowDtype):
        return pa.types.is_string(values.dtype.pyarrow_dtype) or pa.types.is_large_string(
            values.dtype.pyarrow_dtype
        )
    return isinstance(values.dtype, pd.StringDtype)


def _blank_arrow(values: pd.Series) -> npt.NDArray[np.bool_]:
    """Empty or white-space-only, computed by Arrow kernels without copying the texts."""
    array = pa.array(values)
    blank = pc.or_(pc.equal(pc.utf8_length(array), 0), pc.utf8_is_space(array))
    return blank.fill_null(False).to_numpy(zero_copy_only=False)


def content_hashes(
    contents: "pd.Series | list[str] | list[str | None]",
    titles: "pd.Series | list[str | None]",
    *,
    model: str,
    task_type: str | None,
    output_dimensionality: int | None,
) -> list[str]:
    """Digests everything that changes a vector: model, task type, dimensionality, title, text.

    The digest is the hex SHA-256 of `model␟task_type␟dimensionality␟title␟text` (␟ is the
    unit separator, U+001F), computed by DuckDB on every core without a Python string per row.
    """
    return hash_column(
        contents,
        titles,
        model=model,
        task_type=task_type,
        output_dimensionality=output_dimensionality,
    ).to_pylist()


def hash_column(
    contents: "pd.Series | list[str] | list[str | None]",
    titles: "pd.Series | list[str | None]",
    *,
    model: str,
    task_type: str | None,
    output_dimensionality: int | None,
    mask: npt.NDArray[np.bool_] | None = None,
) -> pa.Array:
    """`content_hashes` as an Arrow string array (no Python object per row).

    Rows where `mask` is False (or the content is missing) get a null hash.
    """
    prefix = f"{model}\x1f{task_type or ''}\x1f{output_dimensionality or ''}\x1f"
    table = pa.table(
        {
            "content": arrow_strings(contents),
            "title": arrow_strings(titles),
            "ok": pa.array(np.ones(len(contents), dtype=bool) if mask is None else mask),
        }
    )
    connection = duckdb.connect()
    try:
        connection.register("texts", table)
        result = connection.sql(
            "SELECT CASE WHEN ok THEN sha256(? || coalesce(title, '') || chr(31) || content) "
            "END AS h FROM texts",
            params=[prefix],
        ).to_arrow_table()
    finally:
        connection.close()
    return result.column("h").combine_chunks() if result.num_rows else pa.array([], pa.string())


def arrow_strings(values: "pd.Series | list[str] | list[str | None]") -> pa.Array:
    """Strings as an Arrow array, zero-copy when the Series is Arrow-backed already."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.ArrowDtype):
        array = pa.array(values)
        return array.cast(pa.string()) if array.type != pa.string() else array
    items = values.tolist() if isinstance(values, pd.Series) else list(values)
    return pa.array(items, type=pa.string())


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
    """Returns every source row, in source order, as `row, id, content, title, content_hash, reason`.

    Accepted rows have a `content_hash` and no `reason`; rejected rows the reverse. The text
    column is passed through, not copied, so a corpus costs its own size in memory once.
    """
    rows = validated.rows
    ok = validated.ok
    contents = rows["content"]
    if not _is_string_dtype(contents):  # an object column may hold non-text in rejected rows
        contents = contents.where(ok, None)
    hashes = hash_column(
        contents,
        rows["title"],
        model=model,
        task_type=task_type,
        output_dimensionality=output_dimensionality,
        mask=ok,
    )
    return pd.DataFrame(
        {
            "row": np.arange(len(rows)),
            "id": rows["id"],
            "content": rows["content"],
            "title": rows["title"],
            "content_hash": pd.Series(
                pd.arrays.ArrowExtensionArray(hashes), index=rows.index, copy=False
            ),
            "reason": rows["reason"],
        }
    )
