"""The rules that keep a refresh from emptying the table or the budget, checked before paying.

A refresh deletes stored rows only when the corpus passed its checks. A corpus with no
accepted row, one with too many rejected rows, one that would delete too much of the table,
or one whose estimated spend is above the pipeline's limit submits nothing and deletes
nothing; the message says which rule and how to allow it.
"""

from dataclasses import dataclass

from embed_assets.errors import OverBudget, RefreshRefused
from embed_assets.jobs.rows import PlanCounts
from embed_assets.models.catalog import model_spec
from embed_assets.models.pricing import estimate_cost


@dataclass(frozen=True, kw_only=True)
class RefreshLimits:
    """How much a refresh may reject and delete, and what a run allows beyond that.

    Attributes:
        max_rejected_fraction: the most corpus rows that may be rejected.
        max_deleted_fraction: the most stored rows one refresh may delete.
        allow_rejected_rows: go on above `max_rejected_fraction` (a run-config flag).
        allow_large_delete: delete more than `max_deleted_fraction` (a run-config flag).
        allow_empty_corpus: let a corpus with no accepted row empty the table (a run-config flag).
        max_estimated_cost_usd: the most one refresh may cost, estimated (None: no limit).
        max_prompts_per_refresh: the most prompts one refresh may submit (None: no limit).
        allow_over_budget: submit above either spend limit, this once (a run-config flag).
    """

    max_rejected_fraction: float = 0.05
    max_deleted_fraction: float = 0.5
    allow_rejected_rows: bool = False
    allow_large_delete: bool = False
    allow_empty_corpus: bool = False
    max_estimated_cost_usd: float | None = None
    max_prompts_per_refresh: int | None = None
    allow_over_budget: bool = False


@dataclass(frozen=True)
class SpendEstimate:
    """What a refresh is about to pay for, before any job is created.

    Attributes:
        model: the model the prompts go to.
        prompts: prompts to submit (texts adopted from earlier jobs are not counted).
        characters: their characters.
        tokens: their input tokens, estimated never to fall short (None: the model bills
            characters, or runs locally).
        usd: the estimated cost in USD (list prices).
        basis: what `usd` was computed from.
    """

    model: str
    prompts: int
    characters: int
    tokens: int | None
    usd: float
    basis: str

    @classmethod
    def of(
        cls, model: str, *, prompts: int, characters: int, tokens: int | None = None
    ) -> "SpendEstimate":
        """Estimates the spend of `prompts` prompts of `characters` characters.

        Args:
            model: the model the prompts go to.
            prompts: prompts to submit.
            characters: their characters.
            tokens: their tokens, estimated never to fall short; None where they were not
                counted (a model billed by tokens then counts one per character, which the
                estimate never exceeds).
        """
        billed = model_spec(model).bills_tokens
        counted = (tokens if tokens is not None else characters) if billed else None
        cost = estimate_cost(model, characters=characters, tokens=counted, estimated=True)
        return cls(model, prompts, characters, counted, cost.usd, cost.basis)

    def describe(self) -> str:
        """`120 prompts, 54,000 characters, at most 13,500 tokens, ~$0.001013 estimated`."""
        tokens = f", at most {self.tokens:,} tokens" if self.tokens is not None else ""
        return (
            f"{self.prompts:,} prompts, {self.characters:,} characters{tokens}, "
            f"~${self.usd:.6f} estimated"
        )


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


def check_spend(estimate: SpendEstimate, *, limits: RefreshLimits, pipeline: str) -> None:
    """Refuses a refresh whose estimated spend is above the pipeline's limits.

    Raises:
        OverBudget: above `max_estimated_cost_usd` or `max_prompts_per_refresh`, and the run
            does not allow it.
    """
    if limits.allow_over_budget:
        return
    over = []
    if limits.max_prompts_per_refresh is not None and (
        estimate.prompts > limits.max_prompts_per_refresh
    ):
        over.append(f"max_prompts_per_refresh={limits.max_prompts_per_refresh:,}")
    if limits.max_estimated_cost_usd is not None and estimate.usd > limits.max_estimated_cost_usd:
        over.append(f"max_estimated_cost_usd={limits.max_estimated_cost_usd:g}")
    if over:
        raise OverBudget(
            f"pipeline {pipeline}: this refresh would submit {estimate.describe()}, above "
            f"{' and '.join(over)}; nothing was submitted or deleted. To pay for this one "
            "refresh, run with run config allow_over_budget: true (CLI: --allow-over-budget)",
            estimate=estimate,
        )


def check_plan_counts(counts: PlanCounts, limits: RefreshLimits, *, pipeline: str) -> None:
    """Refuses a refresh that would lose data, from what the diff found (`check_refresh_counts`).

    Rejections are counted against the source's rows (documents, with chunking: a rejected
    document is one row), deletes against the table's rows (chunks, with chunking).
    """
    check_refresh_counts(
        rows=counts.documents or counts.corpus_rows,
        rejected=counts.rejected,
        stored_rows=counts.stored,
        deleted_rows=counts.deleted,
        limits=limits,
        pipeline=pipeline,
    )
