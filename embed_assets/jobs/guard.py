"""The rules that keep a bad corpus from emptying the table: checked before anything is paid.

A refresh deletes stored rows only when the corpus passed its checks. A corpus with no
accepted row, one with too many rejected rows, or one that would delete too much of the table
submits nothing and deletes nothing; the message says which rule and how to allow it.
"""

from dataclasses import dataclass

from embed_assets.errors import RefreshRefused


@dataclass(frozen=True, kw_only=True)
class RefreshLimits:
    """How much a refresh may reject and delete, and what a run allows beyond that.

    Attributes:
        max_rejected_fraction: the most corpus rows that may be rejected.
        max_deleted_fraction: the most stored rows one refresh may delete.
        allow_rejected_rows: go on above `max_rejected_fraction` (a run-config flag).
        allow_large_delete: delete more than `max_deleted_fraction` (a run-config flag).
        allow_empty_corpus: let a corpus with no accepted row empty the table (a run-config flag).
    """

    max_rejected_fraction: float = 0.05
    max_deleted_fraction: float = 0.5
    allow_rejected_rows: bool = False
    allow_large_delete: bool = False
    allow_empty_corpus: bool = False


def rejected_fraction(rejected: int, rows: int) -> float:
    """The fraction of rows rejected (0 for an empty corpus)."""
    return rejected / rows if rows else 0.0


def check_refresh_counts(
    *,
    rows: int,
    rejected: int,
    stored_rows: int,
    deleted_rows: int,
    limits: RefreshLimits,
    pipeline: str,
) -> None:
    """Refuses a refresh that would lose data, from its counts.

    Args:
        rows: corpus rows read.
        rejected: corpus rows rejected by validation.
        stored_rows: rows the table holds.
        deleted_rows: stored rows whose id is not an accepted corpus row.
        limits: how much may be rejected and deleted.
        pipeline: the pipeline, for the message.

    Raises:
        RefreshRefused: the corpus has no accepted row, too many rejected rows, or the refresh
            would delete more than `max_deleted_fraction` of the table.
    """
    accepted = rows - rejected
    nothing = "nothing was submitted or deleted"
    if accepted == 0 and not limits.allow_empty_corpus:
        raise RefreshRefused(
            f"pipeline {pipeline}: the corpus has no row that can be embedded ({rows} read, "
            f"{rejected} rejected) and the table holds {stored_rows} rows; {nothing}. "
            "To empty the table on purpose, run with run config allow_empty_corpus: true "
            "(CLI: --allow-empty-corpus)"
        )
    fraction = rejected_fraction(rejected, rows)
    if fraction > limits.max_rejected_fraction and not limits.allow_rejected_rows:
        raise RefreshRefused(
            f"pipeline {pipeline}: {rejected} of {rows} corpus rows ({fraction:.1%}) were "
            f"rejected, above max_rejected_fraction={limits.max_rejected_fraction:g}; {nothing}. "
            "Fix the corpus, raise max_rejected_fraction, or run with run config "
            "allow_rejected_rows: true (CLI: --allow-rejected-rows)"
        )
    deleted = deleted_rows / stored_rows if stored_rows else 0.0
    emptied_on_purpose = accepted == 0 and limits.allow_empty_corpus
    if deleted > limits.max_deleted_fraction and not (
        limits.allow_large_delete or emptied_on_purpose
    ):
        raise RefreshRefused(
            f"pipeline {pipeline}: this refresh would delete {deleted_rows} of the "
            f"{stored_rows} stored rows ({deleted:.1%}), above max_deleted_fraction="
            f"{limits.max_deleted_fraction:g}; {nothing}. If the corpus really lost those rows, "
            "raise max_deleted_fraction or run with run config allow_large_delete: true "
            "(CLI: --allow-large-delete)"
        )
