"""The asset checks of a pipeline: their specs, and their results from what a step measured."""

import dagster as dg

import embed_assets.pipeline.metadata as md
from embed_assets.jobs.guard import rejected_fraction
from embed_assets.jobs.landing import LandingReport
from embed_assets.pipeline.spec import PipelineSpec
from embed_assets.store.base import StoreStats

REJECTED_ROWS = "rejected_rows"
COVERAGE = "coverage"
DIMENSION = "dimension"
FINITE_VALUES = "finite_values"
ROWS_ACCOUNTED = "rows_accounted"


def corpus_check_specs(spec: PipelineSpec) -> list[dg.AssetCheckSpec]:
    """The corpus asset's checks."""
    return [
        dg.AssetCheckSpec(
            REJECTED_ROWS,
            asset=spec.corpus_key,
            description=f"At most {spec.max_rejected_fraction:.0%} of rows are rejected; else "
            "the refresh stops here: nothing is submitted or deleted.",
            blocking=True,
        )
    ]


def rejected_rows_result(
    spec: PipelineSpec, *, rejected: int, rows: int, allowed: bool = False
) -> dg.AssetCheckResult:
    """Passes when at most `max_rejected_fraction` of the corpus rows were rejected.

    A failure blocks the rest of the refresh, unless the run allows rejected rows: then it
    is a warning and the refresh goes on.
    """
    fraction = rejected_fraction(rejected, rows)
    passed = fraction <= spec.max_rejected_fraction
    description = None
    if not passed:
        description = (
            f"{rejected} of {rows} corpus rows ({fraction:.1%}) were rejected, above "
            f"max_rejected_fraction={spec.max_rejected_fraction:g}; "
            + (
                "allowed by run config allow_rejected_rows"
                if allowed
                else "nothing was submitted or deleted. Fix the corpus, raise "
                "max_rejected_fraction, or run with run config allow_rejected_rows: true "
                "(CLI: --allow-rejected-rows)"
            )
        )
    return dg.AssetCheckResult(
        check_name=REJECTED_ROWS,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN if allowed else dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            md.REJECTED_ROWS: dg.MetadataValue.int(rejected),
            md.REJECTED_FRACTION: dg.MetadataValue.float(fraction),
            md.MAX_REJECTED_FRACTION: dg.MetadataValue.float(spec.max_rejected_fraction),
        },
    )


def embeddings_check_specs(spec: PipelineSpec) -> list[dg.AssetCheckSpec]:
    """The embeddings asset's checks."""
    key = spec.embeddings_key
    return [
        dg.AssetCheckSpec(
            COVERAGE,
            asset=key,
            description=f"At least {spec.min_coverage:.0%} of accepted rows are embedded.",
        ),
        dg.AssetCheckSpec(
            DIMENSION, asset=key, description=f"Every vector has {spec.dimension} values."
        ),
        dg.AssetCheckSpec(FINITE_VALUES, asset=key, description="No vector holds NaN or infinity."),
        dg.AssetCheckSpec(
            ROWS_ACCOUNTED, asset=key, description="Corpus rows = embedded + failed + rejected."
        ),
    ]


def embeddings_check_results(
    spec: PipelineSpec, report: LandingReport, stats: StoreStats, *, dimension: int
) -> list[dg.AssetCheckResult]:
    """The embeddings checks after landing: coverage, dimension, finite values, rows accounted.

    Coverage is of the generation the refresh wrote; dimension and finite values are of the
    table that serves, whose vectors are `dimension` long.
    """
    coverage = report.coverage
    return [
        dg.AssetCheckResult(
            check_name=COVERAGE,
            passed=coverage >= spec.min_coverage,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={md.COVERAGE: coverage, md.FAILED_ROWS: report.failed_rows},
        ),
        dg.AssetCheckResult(
            check_name=DIMENSION,
            passed=stats.wrong_dimension == 0,
            metadata={
                md.ROWS_WITH_WRONG_DIMENSION: stats.wrong_dimension,
                md.EXPECTED_DIMENSION: dimension,
            },
        ),
        dg.AssetCheckResult(
            check_name=FINITE_VALUES,
            passed=stats.non_finite == 0,
            metadata={md.ROWS_WITH_NON_FINITE_VALUES: stats.non_finite},
        ),
        dg.AssetCheckResult(
            check_name=ROWS_ACCOUNTED,
            passed=report.accounted,
            metadata={
                md.CORPUS_ROWS: report.corpus_rows,
                md.EMBEDDED: report.embedded_ids,
                md.FAILED: report.failed_rows,
                md.REJECTED: report.rejected_rows,
            },
        ),
    ]
