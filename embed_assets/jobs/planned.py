"""The submission record a plan starts from, before its texts are dealt into shards."""

from embed_assets.jobs.record import Submission
from embed_assets.jobs.rows import PlanCounts
from embed_assets.jobs.settings import SubmissionSettings


def planned_submission(
    submission_id: str,
    *,
    settings: SubmissionSettings,
    counts: PlanCounts,
    manifest_uri: str,
    output_uri: str,
    landed_rows: int,
    warehouse: bool,
) -> Submission:
    """The submission record of a plan, before its texts are dealt into shards.

    Args:
        submission_id: from `submission_id_for`.
        settings: what the pipeline asks of every submission.
        counts: what the diff found.
        manifest_uri: where the manifest goes.
        output_uri: the folder (or table prefix) of the jobs' output.
        landed_rows: rows landed from earlier paid jobs while planning.
        warehouse: the rows live in the warehouse (not in this process).
    """
    return Submission(
        submission_id=submission_id,
        pipeline=settings.pipeline,
        model=settings.model,
        task_type=settings.task_type,
        output_dimensionality=settings.output_dimensionality,
        manifest_uri=manifest_uri,
        output_uri=output_uri,
        jobs=(),
        corpus_rows=counts.corpus_rows,
        documents=counts.documents or counts.corpus_rows,
        accepted_rows=counts.corpus_rows - counts.rejected,
        rejected_rows=counts.rejected,
        prompts=0,
        characters=0,
        unchanged_rows=counts.unchanged,
        reused_rows=counts.reused,
        stale_rows=counts.stale,
        rejected_by_reason=dict(counts.rejected_by_reason),
        rows_landed_while_planning=landed_rows,
        warehouse=warehouse,
        chunked=settings.chunked,
    )
