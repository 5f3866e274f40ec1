"""Run configuration a person can give one refresh: the overrides of the data-loss and spend rules."""

import dagster as dg
from pydantic import Field

from embed_assets.jobs.guard import RefreshLimits


class RefreshConfig(dg.Config):
    """Allows, for one run, what the pipeline refuses by default (see `RefreshLimits`)."""

    allow_rejected_rows: bool = Field(
        default=False,
        description="Go on although more than max_rejected_fraction of the corpus was rejected.",
    )
    allow_large_delete: bool = Field(
        default=False,
        description="Delete more than max_deleted_fraction of the stored rows in one refresh.",
    )
    allow_empty_corpus: bool = Field(
        default=False, description="Let a corpus with no row that can be embedded empty the table."
    )
    allow_over_budget: bool = Field(
        default=False,
        description="Submit this refresh although its estimated cost or prompts are above the "
        "pipeline's max_estimated_cost_usd or max_prompts_per_refresh.",
    )

    def limits(
        self,
        *,
        max_rejected_fraction: float,
        max_deleted_fraction: float,
        max_estimated_cost_usd: float | None = None,
        max_prompts_per_refresh: int | None = None,
    ) -> RefreshLimits:
        """The limits of this run: the pipeline's limits with this run's overrides."""
        return RefreshLimits(
            max_rejected_fraction=max_rejected_fraction,
            max_deleted_fraction=max_deleted_fraction,
            allow_rejected_rows=self.allow_rejected_rows,
            allow_large_delete=self.allow_large_delete,
            allow_empty_corpus=self.allow_empty_corpus,
            max_estimated_cost_usd=max_estimated_cost_usd,
            max_prompts_per_refresh=max_prompts_per_refresh,
            allow_over_budget=self.allow_over_budget,
        )
