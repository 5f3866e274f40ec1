"""Every job ends: a paused one is cancelled and lands what it wrote, a deleted one is final.

Through the real google-genai client against the emulator. Vertex has no resume call for a
batch prediction job, so a PAUSED job would hold its submission back for good; a deleted
job's GET answers 404, which must not be polled forever.
"""

import dagster as dg
import pytest

from embed_assets.backends.base import JobState
from embed_assets.pipeline.cursor import read_cursor
from embed_assets.pipeline.history import latest_submission
from embed_assets.pipeline.metadata import RUN_TAG_SUBMISSION
from embed_assets.testing import JobFault, VertexEmulator
from tests.helpers import make_corpus, materialize_submission, table, tick_until_requested

pytestmark = pytest.mark.e2e


@pytest.fixture
def backend_kind() -> str:
    """Every pipeline in this file runs on the Vertex backend against the emulator."""
    return "vertex"


def _land(defs: dg.Definitions, pipeline, instance, submission_id: str) -> None:  # type: ignore[no-untyped-def]
    """Runs what the sensor's run request asks for: the embeddings asset, for that submission."""
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=[pipeline.embeddings_key],
        tags={RUN_TAG_SUBMISSION: submission_id},
    )
    assert result.success


def test_a_job_stuck_in_paused_is_cancelled_lands_and_its_texts_are_sent_again(
    vertex_emulator: VertexEmulator, corpus_file, build, instance, run
) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(20)
    pipeline, defs = build(corpus_file(corpus), max_prompts_per_job=10)
    vertex_emulator.inject(JobFault(stuck_paused=True), count=1)
    materialize_submission(defs, pipeline, instance)
    submission = latest_submission(instance, pipeline.batch_job_key)
    assert submission is not None and len(submission.jobs) == 2
    paused = submission.jobs[0].name
    tick, _ = tick_until_requested(defs, pipeline, instance, ticks=150)
    assert len(tick.run_requests) == 1  # the paused job no longer holds the submission back
    states = {job["name"]: job["state"] for job in vertex_emulator.jobs()}
    assert states[paused] == "JOB_STATE_CANCELLED"  # so it can never bill again
    _land(defs, pipeline, instance, submission.submission_id)
    assert len(table(defs, pipeline)) == 10  # the other job's rows
    failures = defs.resources[pipeline.names.store_key].failures(pipeline.name)
    assert len(failures) == 10 and all(paused in reason for reason in failures["reason"])
    again = run(pipeline, defs)  # the failed rows are submitted again, nothing else
    assert again.prompts == 10 and again.failed == 0
    assert sorted(table(defs, pipeline)["id"]) == sorted(corpus["id"])


def test_a_job_deleted_while_it_runs_is_final_and_its_texts_are_sent_again(
    vertex_emulator: VertexEmulator, corpus_file, build, instance, run
) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(20)
    pipeline, defs = build(corpus_file(corpus), max_prompts_per_job=10)
    vertex_emulator.inject(JobFault(stuck_pending=True), count=1)
    materialize_submission(defs, pipeline, instance)
    submission = latest_submission(instance, pipeline.batch_job_key)
    assert submission is not None
    deleted = submission.jobs[0].name
    vertex_emulator.delete_job(deleted)
    gets_before = vertex_emulator.calls["get"]
    tick, cursor = tick_until_requested(defs, pipeline, instance, ticks=150)
    assert len(tick.run_requests) == 1  # polled once, found gone, never again
    assert read_cursor(cursor).states[deleted] == JobState.GONE.value
    gets = vertex_emulator.calls["get"] - gets_before
    _land(defs, pipeline, instance, submission.submission_id)
    assert vertex_emulator.calls["get"] - gets_before <= gets + 2  # landing reads each job once
    failures = defs.resources[pipeline.names.store_key].failures(pipeline.name)
    assert len(failures) == 10
    assert all("404 NOT_FOUND" in reason for reason in failures["reason"])
    again = run(pipeline, defs)
    assert again.prompts == 10 and again.failed == 0
    assert sorted(table(defs, pipeline)["id"]) == sorted(corpus["id"])
