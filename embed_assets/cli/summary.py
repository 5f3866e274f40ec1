"""The text summary `embed-assets run` prints: what a refresh did, in a few aligned lines."""

from typing import TYPE_CHECKING

from embed_assets.human import plural

if TYPE_CHECKING:  # the runner imports Dagster; `embed-assets --help` need not
    from embed_assets.cli.runner import RunSummary


def print_summary(
    summary: "RunSummary", sample: list[tuple[str, float]] | None, query: str | None
) -> None:
    """Prints the summary of one run, and the top search results of `query` when given."""
    rejected = ", ".join(f"{reason}: {n}" for reason, n in summary.rejected_by_reason.items())
    lines = [
        f"pipeline        {summary.pipeline} (model {summary.model})",
        f"rows read       {summary.rows_read}"
        + (
            f" (chunks of {summary.documents} documents)"
            if summary.documents != summary.rows_read
            else ""
        ),
        f"rejected        {summary.rejected}" + (f" ({rejected})" if rejected else ""),
        f"prompts         {summary.prompts} ({summary.characters} characters)",
        f"jobs            {summary.jobs}"
        + (
            f" ({', '.join(sorted(set(summary.job_states.values())))})"
            if summary.job_states
            else ""
        ),
        f"embedded        {summary.embedded} rows ({summary.written} written, {summary.reused} reused)",
        f"failed          {summary.failed}",
        f"deleted         {summary.deleted}",
        f"table rows      {summary.table_rows}"
        + (f" (model {summary.serving_model})" if summary.serving_model else ""),
        f"tokens          {summary.tokens}",
        f"outcome         {summary.outcome}",
        f"wall time       {summary.wall_seconds:.1f} s",
    ]
    if summary.building_model:
        lines.append(
            f"new generation  {summary.building_model}: built beside the table until it covers "
            "min_coverage; the table serves the old vectors meanwhile"
        )
    if summary.checks:
        lines.append(
            "checks          "
            + ", ".join(
                f"{name} {_outcome(ok, warned=name in summary.warnings)}"
                for name, ok in summary.checks.items()
            )
        )
    if summary.failed:
        lines.append("failed rows:\n" + summary.failed_examples)
    if summary.truncated:
        lines.append(
            f"truncated       {plural(summary.truncated, 'row was', 'rows were')} longer than "
            f"{summary.model} reads; "
            f"only their start was embedded (e.g. {', '.join(summary.truncated_examples)})"
        )
    if sample:
        lines.append(f'search "{query}":')
        lines += [f"  {score:.3f}  {doc_id}" for doc_id, score in sample]
    print("\n".join(lines))


def _outcome(passed: bool, *, warned: bool) -> str:
    return "passed" if passed else "warned" if warned else "FAILED"
