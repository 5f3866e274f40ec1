"""The asset checks of a pipeline: their specs, and their results from what a step measured."""

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg

import embed_assets.pipeline.history as history
import embed_assets.pipeline.metadata as md
from embed_assets.human import plural
from embed_assets.jobs.guard import rejected_fraction
from embed_assets.models.catalog import model_spec

if TYPE_CHECKING:  # the pipeline builds these; they read it
    from embed_assets.pipeline.embedding_pipeline import EmbeddingPipeline

# the checks' names (metadata keys of the same words are `metadata`'s)
REJECTED_ROWS_CHECK = "rejected_rows"
COVERAGE_CHECK = "coverage"
DIMENSION_CHECK = "dimension"
FINITE_VALUES_CHECK = "finite_values"
ROWS_ACCOUNTED_CHECK = "rows_accounted"
NOT_TRUNCATED_CHECK = "not_truncated"


def corpus_check_specs(spec: "EmbeddingPipeline") -> list[dg.AssetCheckSpec]:
    """The corpus asset's checks."""
    return [
        dg.AssetCheckSpec(
            REJECTED_ROWS_CHECK,
            asset=spec.corpus_key,
            description=f"At most {spec.max_rejected_fraction:.0%} of rows are rejected; else "
            "the refresh stops here: nothing is submitted or deleted.",
            blocking=True,
        )
    ]


def rejected_rows_result(
    spec: "EmbeddingPipeline", *, rejected: int, rows: int, allowed: bool = False
) -> dg.AssetCheckResult:
    """Passes when at most `max_rejected_fraction` of the corpus rows were rejected.

    `rows` are the source's rows: documents, with chunking (a rejected document is one
    rejected row, however many chunks the others make). A failure blocks the rest of the
    refresh, unless the run allows rejected rows: then it is a warning and the refresh goes on.
    """
    fraction = rejected_fraction(rejected, rows)
    passed = fraction <= spec.max_rejected_fraction
    description = None
    kind = "documents" if spec.chunking is not None else "corpus rows"
    if not passed:
        description = (
            f"{rejected} of {rows} {kind} ({fraction:.1%}) were rejected, above "
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
        check_name=REJECTED_ROWS_CHECK,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN if allowed else dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            md.REJECTED_ROWS: dg.MetadataValue.int(rejected),
            md.REJECTED_FRACTION: dg.MetadataValue.float(fraction),
            md.MAX_REJECTED_FRACTION: dg.MetadataValue.float(spec.max_rejected_fraction),
        },
    )


def embeddings_check_specs(spec: "EmbeddingPipeline") -> list[dg.AssetCheckSpec]:
    """The embeddings asset's checks: evaluated by each run of the asset, landing or not.

    `dimension`, `finite_values` and `rows_accounted` are blocking: bad vectors or lost rows
    never reach the assets downstream.
    """
    key = spec.embeddings_key
    # with chunking, coverage and accounting are of chunk rows (a rejected document: one row)
    rows = "chunks" if spec.chunking is not None else "rows"
    corpus_rows = "Chunks (and rejected documents)" if spec.chunking is not None else "Corpus rows"
    return [
        dg.AssetCheckSpec(
            COVERAGE_CHECK,
            asset=key,
            description=f"At least {spec.min_coverage:.0%} of accepted {rows} are embedded.",
        ),
        dg.AssetCheckSpec(
            DIMENSION_CHECK,
            asset=key,
            description=f"Every vector has {spec.dimension} values.",
            blocking=True,
        ),
        dg.AssetCheckSpec(
            FINITE_VALUES_CHECK,
            asset=key,
            description="No vector holds NaN or infinity.",
            blocking=True,
        ),
        dg.AssetCheckSpec(
            ROWS_ACCOUNTED_CHECK,
            asset=key,
            description=f"{corpus_rows} = embedded + failed + rejected.",
            blocking=True,
        ),
        dg.AssetCheckSpec(
            NOT_TRUNCATED_CHECK,
            asset=key,
            description="No text was longer than the model reads and cut to fit "
            f"({model_spec(spec.resolved_model).max_input_tokens} tokens for "
            f"{spec.resolved_model}).",
        ),
    ]


def table_check_results(
    context: dg.AssetExecutionContext, spec: "EmbeddingPipeline"
) -> Iterator[dg.AssetCheckResult]:
    """The selected embeddings checks of the table as it is: as its latest landing left it.

    A run that lands nothing (the table is up to date, or its jobs still run) evaluates them
    too, so they always show the table, never "skipped". Before any landing there is no
    table to check, and no result.
    """
    event = context.instance.get_latest_materialization_event(spec.embeddings_key)
    landing = history.read_landing(event) if event is not None else {}
    if not landing:
        return
    selected = {check.name for check in context.selected_asset_check_keys}
    for result in embeddings_check_results(spec, landing):
        if result.check_name in selected:
            yield result


def embeddings_check_results(
    spec: "EmbeddingPipeline", landing: Mapping[str, Any]
) -> list[dg.AssetCheckResult]:
    """The embeddings checks from a landing record (see `metadata.landing_record`).

    Coverage is of the generation the refresh wrote; dimension and finite values are of the
    table that serves.
    """
    corpus, rejected = int(landing["corpus_rows"]), int(landing["rejected_rows"])
    embedded, failed = int(landing["embedded_rows"]), int(landing["failed_rows"])
    accepted = corpus - rejected
    coverage = embedded / accepted if accepted else 1.0
    wrong, non_finite = (
        int(landing["rows_with_wrong_dimension"]),
        int(landing["rows_with_non_finite_values"]),
    )
    return [
        dg.AssetCheckResult(
            check_name=COVERAGE_CHECK,
            passed=coverage >= spec.min_coverage,
            severity=dg.AssetCheckSeverity.WARN,
            description=None
            if coverage >= spec.min_coverage
            else f"{embedded} of {accepted} accepted rows embedded ({coverage:.1%}); "
            f"{failed} failed and are submitted again by the next refresh",
            metadata={md.COVERAGE: round(coverage, 4), md.FAILED_ROWS: failed},
        ),
        dg.AssetCheckResult(
            check_name=DIMENSION_CHECK,
            passed=wrong == 0,
            description=None
            if wrong == 0
            else f"{plural(wrong, 'vector is', 'vectors are')} not {landing['dimension']} long",
            metadata={
                md.ROWS_WITH_WRONG_DIMENSION: wrong,
                md.EXPECTED_DIMENSION: int(landing["dimension"]),
            },
        ),
        dg.AssetCheckResult(
            check_name=FINITE_VALUES_CHECK,
            passed=non_finite == 0,
            description=None
            if non_finite == 0
            else f"{plural(non_finite, 'vector holds', 'vectors hold')} NaN or infinity",
            metadata={md.ROWS_WITH_NON_FINITE_VALUES: non_finite},
        ),
        dg.AssetCheckResult(
            check_name=ROWS_ACCOUNTED_CHECK,
            passed=corpus == embedded + failed + rejected,
            description=None
            if corpus == embedded + failed + rejected
            else f"{plural(corpus, 'corpus row')} but {embedded} embedded + {failed} failed + "
            f"{rejected} rejected",
            metadata={
                md.CORPUS_ROWS: corpus,
                md.EMBEDDED: embedded,
                md.FAILED: failed,
                md.REJECTED: rejected,
            },
        ),
        _not_truncated(spec, landing),
    ]


def _not_truncated(spec: "EmbeddingPipeline", landing: Mapping[str, Any]) -> dg.AssetCheckResult:
    """Warns when the table holds vectors of texts the model cut to its input limit."""
    truncated = int(landing.get(md.TRUNCATED_ROWS, 0))
    examples = list(landing.get(md.TRUNCATED_EXAMPLES, []))
    limit = model_spec(spec.resolved_model).max_input_tokens
    return dg.AssetCheckResult(
        check_name=NOT_TRUNCATED_CHECK,
        passed=truncated == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=None
        if truncated == 0
        else f"{plural(truncated, 'row was', 'rows were')} longer than {spec.resolved_model} "
        f"reads ({limit} tokens) "
        f"and only their start was embedded (e.g. {', '.join(examples)}); embed them in chunks "
        "(chunking=Chunking()), shorten them, or set auto_truncate=False to have them fail "
        "and be listed instead",
        metadata={
            md.TRUNCATED_ROWS: truncated,
            md.TRUNCATED_EXAMPLES: dg.MetadataValue.text(", ".join(examples) or "none"),
            md.MAX_INPUT_TOKENS: limit,
        },
    )
