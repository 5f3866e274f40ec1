"""Validation of a corpus: normalized to `id, content[, title]`, every bad row with its reason.

Rows that cannot be embedded are never dropped silently: each stays in the frame with the
reason it was rejected, and goes to the rejected table.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

REASON_MISSING_ID = "missing id"
REASON_DUPLICATE_ID = "duplicate id"
REASON_MISSING_CONTENT = "missing content"
REASON_NOT_TEXT = "content is not text"
REASON_EMPTY_CONTENT = "empty or whitespace-only content"


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
    if is_string_dtype(content):
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


def is_string_dtype(values: pd.Series) -> bool:
    """Tells whether a column holds only strings by its dtype (Arrow or pandas string)."""
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
