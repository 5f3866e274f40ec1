"""Each emulated fault ends as the design says: reported, never hanging, nothing lost."""

import pytest

from embed_assets.backends.base import JobState
from embed_assets.cli.runner import PipelineRunError
from embed_assets.pipeline.cursor import SensorOutcome, read_cursor
from embed_assets.pipeline.history import latest_submission
from embed_assets.testing import JobFault
from tests.helpers import assert_accounted, make_corpus, materialize_submission, table, tick_sensor

pytestmark = pytest.mark.e2e  # each test runs the whole pipeline


@pytest.fixture
def backend_kind() -> str:
    """Every pipeline in this file runs on the Vertex backend against the emulator."""
    return "vertex"


@pytest.mark.parametrize("final_state", ["FAILED", "EXPIRED", "CANCELLED"])
def test_jobs_ending_without_output_request_no_run_and_the_next_refresh_resubmits(
    final_state, vertex_emulator, corpus_file, build, run, instance
) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(40)
    pipeline, defs = build(corpus_file(corpus), max_prompts_per_job=20)
    vertex_emulator.inject(JobFault(final_state=final_state), count=2)
    with pytest.raises(PipelineRunError, match=final_state):
        run(pipeline, defs)
    submission = latest_submission(instance, pipeline.batch_job_key)
    backend = defs.resources[pipeline.names.backend_key]
    status = backend.get(submission.jobs[0].name)
    assert status.state == JobState(final_state)
    if final_state != "CANCELLED":  # error.details are objects: still read, code and message
        assert status.error is not None and status.error.code in (13, 4)
        assert "emulated" in status.error.message
    assert table(defs, pipeline).empty
    again = run(pipeline, defs)
    assert (again.prompts, again.embedded, again.failed) == (40, 40, 0)
    assert_accounted(again, corpus)


def test_one_failed_job_of_two_lands_the_other_and_lists_the_failed_rows(
    vertex_emulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(40)
    pipeline, defs = build(corpus_file(corpus), max_prompts_per_job=20)
    vertex_emulator.inject(JobFault(final_state="FAILED"), display_name_contains="-00001")
    summary = run(pipeline, defs)
    assert sorted(summary.job_states.values()) == ["FAILED", "SUCCEEDED"]
    assert (summary.embedded, summary.failed) == (20, 20)
    assert "ended FAILED" in summary.failed_examples
    assert_accounted(summary, corpus)
    again = run(pipeline, defs)
    assert (again.prompts, again.embedded, again.failed) == (20, 40, 0)


def test_http_429_and_503_are_retried_by_the_client(
    vertex_emulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(25)
    pipeline, defs = build(corpus_file(corpus))
    vertex_emulator.fail_next_calls(3, status=429)
    summary = run(pipeline, defs)
    assert summary.embedded == 25
    vertex_emulator.fail_next_calls(2, status=503)
    corpus.loc[0, "content"] = "a new text"
    corpus_file(corpus)
    assert run(pipeline, defs).written == 1


def test_a_sensor_tick_survives_an_unavailable_service(
    make_vertex_emulator, corpus_file, build, instance
) -> None:  # type: ignore[no-untyped-def]
    emulator = make_vertex_emulator()
    backend = emulator.vertex_backend(retry_attempts=1)
    pipeline, defs = build(corpus_file(make_corpus(10)), backend=backend)
    materialize_submission(defs, pipeline, instance)
    emulator.fail_next_calls(5, status=503)
    tick = tick_sensor(defs, pipeline, instance, None)
    assert not tick.run_requests
    assert read_cursor(tick.cursor).outcome is None  # nothing decided; next tick retries
    cursor = tick.cursor
    for _ in range(100):
        tick = tick_sensor(defs, pipeline, instance, cursor)
        cursor = tick.cursor
        if tick.run_requests:
            break
    assert len(tick.run_requests) == 1


def test_a_stuck_job_is_adopted_by_a_newer_submission_and_resubmitted_only_once_cancelled(
    vertex_emulator, corpus_file, build, run, instance
) -> None:  # type: ignore[no-untyped-def]
    """A job stuck in PENDING keeps the sensor waiting; a newer submission waits for it too
    (it is paid for) and submits only the changed text; once it is cancelled, the next refresh
    submits its rows again, once."""
    corpus = make_corpus(30)
    pipeline, defs = build(corpus_file(corpus))
    vertex_emulator.inject(JobFault(stuck_pending=True))
    materialize_submission(defs, pipeline, instance)
    stuck = latest_submission(instance, pipeline.batch_job_key)
    cursor = None
    for _ in range(3):
        tick = tick_sensor(defs, pipeline, instance, cursor)
        cursor = tick.cursor
        assert not tick.run_requests and "1 of 1 jobs" in (tick.skip_message or "")
    corpus.loc[0, "content"] = "the corpus changed while the job was stuck"
    corpus_file(corpus)
    materialize_submission(defs, pipeline, instance)
    newer = latest_submission(instance, pipeline.batch_job_key)
    backend = defs.resources[pipeline.names.backend_key]
    assert (newer.prompts, newer.adopted_prompts) == (1, 29)
    assert [job.name for job in newer.jobs if job.adopted] == [stuck.jobs[0].name]
    assert backend.get(stuck.jobs[0].name).state is JobState.PENDING  # waited for, not cancelled
    backend.cancel(stuck.jobs[0].name)
    summary = run(pipeline, defs)  # the stuck job ended without output: its rows, once more
    assert (summary.prompts, summary.embedded) == (29, 30)
    assert_accounted(summary, corpus)
    assert read_cursor(cursor).outcome is not SensorOutcome.FAILED
