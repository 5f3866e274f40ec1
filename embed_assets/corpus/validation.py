"""Validation of a corpus: normalized to `id, content[, title]`, every bad row with its reason.

Rows that cannot be embedded are never dropped silently: each stays in the frame with the
reason it was rejected, and goes to the rejected table.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from embed_assets.errors import CorpusError

REASON_MISSING_ID = "missing id"
REASON_DUPLICATE_ID = "duplicate id"
REASON_MISSING_CONTENT = "missing content"
REASON_NOT_TEXT = "content is not text"
REASON_EMPTY_CONTENT = "empty or whitespace-only content"
REASON_INVISIBLE_CONTENT = "content has no visible characters"
REASON_BAD_ID = "id is neither text nor a whole number"
REASON_FRACTIONAL_ID = "id is a number with a fraction"

# a character that shows: not white space, a separator, a control or a format character
_VISIBLE = r"[^\s\p{Z}\p{Cc}\p{Cf}]"


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


def _id_text(value: object) -> tuple[str | None, str | None]:
    """One id as text, exactly as the source wrote it, or the reason it cannot be an id."""
    if value is None or value is pd.NA:
        return None, REASON_MISSING_ID
    if isinstance(value, str):
        return (value, None) if value.strip() else (None, REASON_MISSING_ID)
    if isinstance(value, bool | np.bool_):
        return None, REASON_BAD_ID
    if isinstance(value, int | np.integer):
        return str(int(value)), None
    if isinstance(value, float | np.floating):
        if value != value:  # NaN
            return None, REASON_MISSING_ID
        if not np.isfinite(value) or not float(value).is_integer():
            return None, REASON_FRACTIONAL_ID
        return str(int(value)), None  # a whole number stored as a float (a gap in the column)
    return None, REASON_BAD_ID


def _normalize_ids(values: pd.Series) -> tuple[pd.Series, npt.NDArray[np.object_]]:
    """Returns each row's id as text (missing when it has none) and why a row has none.

    Text and integer columns convert as a whole with Arrow kernels, exactly (no float detour,
    so large integers stay exact; no Python string per row); anything else is read value by
    value, so one row never changes another's id.
    """
    reasons = np.full(len(values), None, dtype=object)
    if is_string_dtype(values) or pd.api.types.is_integer_dtype(values.dtype):
        # `string`, as the chunk ids and hashes built from ids expect
        text = pc.cast(pa.array(values) if len(values) else pa.array([], pa.string()), pa.string())
        missing = _blank(text).fill_null(True).to_numpy(zero_copy_only=False)
        reasons[missing] = REASON_MISSING_ID
        kept = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), text)
        return pd.Series(pd.arrays.ArrowExtensionArray(kept), copy=False), reasons
    pairs = [_id_text(value) for value in values.tolist()]
    ids = pd.Series([text for text, _ in pairs], dtype=object)
    reasons[:] = [reason for _, reason in pairs]
    return ids, reasons


def _repeated(ids: pd.Series) -> npt.NDArray[np.bool_]:
    """Rows whose id (not missing) appears more than once; by Arrow's hash table for text."""
    if not isinstance(ids.dtype, pd.ArrowDtype):
        return ids.duplicated(keep=False).to_numpy() & ids.notna().to_numpy()
    # one hash table for every chunk: the indices of all chunks point into one dictionary
    encoded = pa.chunked_array(pa.array(ids)).dictionary_encode()
    index = np.concatenate(
        [np.empty(0, np.int64)]
        + [c.indices.fill_null(-1).to_numpy(zero_copy_only=False) for c in encoded.chunks]
    ).astype(np.int64)
    sizes = {len(chunk.dictionary) for chunk in encoded.chunks}
    if len(sizes) > 1:  # a dictionary per chunk (not one table): count the values instead
        distinct = pc.unique(pa.array(ids))
        index = (
            pc.index_in(pa.array(ids), value_set=distinct)
            .fill_null(-1)
            .to_numpy(zero_copy_only=False)
        )
        sizes = {len(distinct)}
    size = max(sizes, default=0)
    counts = np.bincount(index[index >= 0], minlength=size)
    return (index >= 0) & (counts[np.maximum(index, 0)] > 1)


class CheckedIds(NamedTuple):
    """A corpus's ids as text (missing where a row has none) and why a row's id is refused.

    Attributes:
        ids: each row's id as text, or missing (null in an Arrow column, None otherwise).
        reasons: None, or a missing, unusable or duplicate id's reason.
    """

    ids: pd.Series
    reasons: npt.NDArray[np.object_]

    def rows(self, first: int, stop: int) -> "CheckedIds":
        """The ids of rows first..stop-1 (a batch of the corpus)."""
        return CheckedIds(
            self.ids.iloc[first:stop].reset_index(drop=True), self.reasons[first:stop].copy()
        )


def check_ids(values: pd.Series, *, repeated: pa.Array | None = None) -> CheckedIds:
    """Reads an id column as `validate_corpus` does: ids that appear twice refuse every row.

    Args:
        values: the id column.
        repeated: for a batch of a larger source, the ids (as text) that repeat anywhere in
            it; by default, the ids that repeat within `values`.
    """
    ids, reasons = _normalize_ids(values.reset_index(drop=True))
    has_id = reasons == None  # noqa: E711
    if repeated is None:
        twice = _repeated(ids)
    else:
        texts = pa.array(ids, type=pa.string(), from_pandas=True)  # a batch of no ids: nulls
        found = pc.is_in(texts, value_set=repeated.cast(pa.string()))
        twice = found.fill_null(False).to_numpy(zero_copy_only=False)
    reasons[twice & has_id] = REASON_DUPLICATE_ID
    return CheckedIds(ids, reasons)


def validate_corpus(
    frame: pd.DataFrame,
    columns: CorpusColumns,
    *,
    source: str,
    checked_ids: CheckedIds | None = None,
) -> ValidatedCorpus:
    """Normalizes a raw corpus to `id, content, title` and rejects rows that cannot be embedded.

    A row is rejected, with the first reason that applies, when its id is missing or is not
    text or a whole number, its id appears more than once (every such row: the source is
    ambiguous), its content is missing, not text (numbers, lists, structs, bytes), empty after
    stripping white space, or holds no visible character.

    Args:
        frame: the raw rows.
        columns: which columns hold the id, the text and the title.
        source: the source, for messages.
        checked_ids: for a batch of a larger source, its rows of the source's ids as
            `check_ids` read them (so a duplicate in another batch counts too); by default
            the frame's id column is read.

    Raises:
        CorpusError: a named column is missing.
    """
    check_columns(frame, columns, source=source)
    rows = len(frame)
    ids, reasons = check_ids(frame[columns.id_column]) if checked_ids is None else checked_ids
    content = frame[columns.text_column].reset_index(drop=True)
    if is_string_dtype(content):
        is_missing = content.isna().to_numpy()
        is_text = ~is_missing
        texts = pa.array(content)  # zero-copy for an Arrow-backed column
    else:  # an object, number, list or struct column: look at each value
        values = content.tolist()
        is_missing = np.fromiter((_is_missing(v) for v in values), dtype=bool, count=rows)
        is_text = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=rows)
        texts = pa.array([v if isinstance(v, str) else None for v in values], type=pa.string())
    blank, invisible = _blank_and_invisible(texts)
    open_ = reasons == None  # noqa: E711
    for mask, reason in (
        (is_missing, REASON_MISSING_CONTENT),
        (~is_text & ~is_missing, REASON_NOT_TEXT),
        (blank & is_text, REASON_EMPTY_CONTENT),
        (invisible & is_text, REASON_INVISIBLE_CONTENT),
    ):
        reasons[mask & open_] = reason
        open_ &= ~mask
    if columns.title_column:
        raw_titles = frame[columns.title_column].reset_index(drop=True).astype(object)
        # None, NaN and pd.NA (a NULL from BigQuery's Arrow columns) are all "no title"
        titles = raw_titles.map(lambda v: None if pd.isna(v) or v == "" else str(v))
    else:
        titles = pd.Series([None] * rows, dtype=object)
    ok = reasons == None  # noqa: E711
    positions = np.flatnonzero(~ok)
    rejected_ids = ids.iloc[positions].astype(object)
    rejected = pd.DataFrame(
        {
            "row": positions,
            "id": rejected_ids.where(rejected_ids.notna(), None).to_numpy(),
            "reason": reasons[positions],
        }
    )
    every_row = pd.DataFrame({"id": ids, "content": content, "title": titles, "reason": reasons})
    return ValidatedCorpus(rows=every_row, rejected=rejected, source_rows=rows)


def is_string_dtype(values: pd.Series) -> bool:
    """Tells whether a column holds only strings by its dtype (Arrow or pandas string)."""
    if isinstance(values.dtype, pd.ArrowDtype):
        return pa.types.is_string(values.dtype.pyarrow_dtype) or pa.types.is_large_string(
            values.dtype.pyarrow_dtype
        )
    return isinstance(values.dtype, pd.StringDtype)


def _is_missing(value: object) -> bool:
    """None, NaN or NA (a value of any other type is present, if not necessarily text)."""
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _blank(texts: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Per text: empty or white space only (null for a null text), by Arrow kernels."""
    return pc.or_(pc.equal(pc.utf8_length(texts), 0), pc.utf8_is_space(texts))


def _blank_and_invisible(
    texts: pa.Array | pa.ChunkedArray,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Per text: empty or white space only; and (else) no visible character at all.

    Arrow kernels do both without a Python string per row; null texts are neither. Only the
    texts with no visible character can be blank (white space is never visible), so only
    they are measured for it: the regex stops at a text's first visible character, the blank
    test would read every text to its end.
    """
    visible = pc.match_substring_regex(texts, _VISIBLE).fill_null(True)
    invisible = pc.invert(visible).to_numpy(zero_copy_only=False)
    blank_np = np.zeros(len(invisible), dtype=bool)
    candidates = np.flatnonzero(invisible)
    if candidates.size:
        blank_np[candidates] = (
            _blank(texts.take(pa.array(candidates))).fill_null(False).to_numpy(zero_copy_only=False)
        )
    return blank_np, invisible & ~blank_np
