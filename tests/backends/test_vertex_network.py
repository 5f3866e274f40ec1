"""Network faults through the real google-genai client: waited for, never a crash, never a second job.

The emulator refuses connections (its port closed), stalls every call past the client's
timeout, or makes a job and then loses the answer to its create (dropped, or sent too late).
"""

import time
from collections import Counter

import pytest

from embed_assets.backends.base import BackendUnavailable
from embed_assets.backends.vertex import VertexBatchBackend
from embed_assets.cli.runner import run_pipeline
from embed_assets.jobs.record import LABEL_SHARD
from embed_assets.pipeline.cursor import read_cursor
from embed_assets.pipeline.history import latest_landing
from embed_assets.pipeline.sensor import DEFAULT_TIME_BUDGET_SECONDS
from embed_assets.testing import JobFault
from tests.helpers import (
    assert_accounted,
    make_corpus,
    materialize_submission,
    tick_sensor,
    tick_until_requested,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]


@pytest.fixture
def backend_kind() -> str:
    """Every pipeline in this file runs on the Vertex backend against the emulator."""
    return "vertex"


def _backend(emulator, **options):  # type: ignore[no-untyped-def]
    settings = {"retry_attempts": 2, "timeout_seconds": 1.0, **options}
    return emulator.vertex_backend(**settings)


def test_a_sensor_tick_during_an_outage_waits_and_lands_after_it(
    make_vertex_emulator, corpus_file, build, instance
) -> None:  # type: ignore[no-untyped-def]
    emulator = make_vertex_emulator()
    pipeline, defs = build(corpus_file(make_corpus(12)), backend=_backend(emulator))
    materialize_submission(defs, pipeline, instance)
    emulator.refuse_connections(3.0)
    tick = tick_sensor(defs, pipeline, instance, None)  # would raise before the fix
    assert not tick.run_requests
    assert read_cursor(tick.cursor).outcome is None
    assert "Vertex AI is unreachable" in (tick.skip_message or "")
    assert "ConnectError" in (tick.skip_message or "")
    time.sleep(3.5)
    tick, _ = tick_until_requested(defs, pipeline, instance, ticks=100, cursor=tick.cursor)
    assert len(tick.run_requests) == 1


def test_a_stalled_endpoint_is_reported_as_a_timeout_not_a_crash(
    make_vertex_emulator, corpus_file, build, instance
) -> None:  # type: ignore[no-untyped-def]
    emulator = make_vertex_emulator()
    pipeline, defs = build(corpus_file(make_corpus(8)), backend=_backend(emulator))
    materialize_submission(defs, pipeline, instance)
    emulator.faults.stall(4.0)
    tick = tick_sensor(defs, pipeline, instance, None)
    assert not tick.run_requests
    assert "unreachable" in (tick.skip_message or "")
    assert "Timeout" in (tick.skip_message or "")


def test_the_cli_run_keeps_waiting_through_an_outage_and_says_so(
    make_vertex_emulator, corpus_file, build, instance
) -> None:  # type: ignore[no-untyped-def]
    emulator = make_vertex_emulator(fault=JobFault(pending_seconds=5.0))
    corpus = make_corpus(15)
    pipeline, defs = build(corpus_file(corpus), backend=_backend(emulator))
    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        if line.startswith("submission "):  # the jobs exist: Vertex goes away for 3 s
            emulator.refuse_connections(3.0)

    summary = run_pipeline(
        defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.3, progress=progress
    )
    assert any("Vertex AI is unreachable" in line for line in lines)
    assert summary.embedded == 15
    assert_accounted(summary, corpus)


def test_a_submission_that_cannot_reach_vertex_creates_nothing_and_fails_in_one_line(
    make_vertex_emulator, corpus_file, build, instance
) -> None:  # type: ignore[no-untyped-def]
    emulator = make_vertex_emulator()
    pipeline, defs = build(corpus_file(make_corpus(10)), backend=_backend(emulator))
    emulator.refuse_connections(60.0)
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        asset_selection=[pipeline.corpus_key, pipeline.batch_job_key],
        raise_on_error=False,
    )
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    message = failures[0].step_failure_data.error.message  # type: ignore[union-attr]
    assert "Vertex AI at http://127.0.0.1" in message and "unreachable" in message
    assert "\n" not in message.strip().split("dagster._core.definitions.events.Failure: ")[-1]
    assert emulator.jobs() == []


@pytest.mark.parametrize("how", ["drop", "delay"])
def test_a_create_whose_answer_is_lost_makes_one_job_per_shard(
    how, make_vertex_emulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    """The create succeeded on the service; the client never heard: it looks, and re-attaches."""
    emulator = make_vertex_emulator()
    corpus = make_corpus(30)
    pipeline, defs = build(
        corpus_file(corpus), backend=_backend(emulator, retry_attempts=3), max_prompts_per_job=10
    )
    emulator.faults.lose_create_answers(2, how=how, seconds=2.0)
    summary = run(pipeline, defs)
    shards = Counter(job["labels"][LABEL_SHARD] for job in emulator.jobs())
    assert sorted(shards.values()) == [1, 1, 1]
    assert emulator.calls["create"] == 3  # no create was sent twice
    assert emulator.paid_prompts() == summary.prompts == 30
    assert summary.embedded == 30
    assert_accounted(summary, corpus)


def test_a_late_create_that_makes_a_second_job_is_cancelled_and_not_landed(
    make_vertex_emulator, corpus_file, build, run, instance
) -> None:  # type: ignore[no-untyped-def]
    """The service makes the job only after the client gave up and created again: two jobs
    for one shard. The second is cancelled while it waits, and only one is landed."""
    # jobs wait 10 s: the sensor cancels the duplicate before it runs, under CI load too
    emulator = make_vertex_emulator(fault=JobFault(pending_seconds=10.0))
    corpus = make_corpus(10)
    pipeline, defs = build(corpus_file(corpus), backend=_backend(emulator, retry_attempts=3))
    emulator.faults.delay_creates(1, seconds=2.5)
    summary = run(pipeline, defs)
    jobs = emulator.jobs()
    assert len(jobs) == 2 and {job["labels"][LABEL_SHARD] for job in jobs} == {"00000"}
    assert sorted(job["state"] for job in jobs) == ["JOB_STATE_CANCELLED", "JOB_STATE_SUCCEEDED"]
    assert emulator.paid_prompts() == 10  # the duplicate was cancelled before it ran
    assert (summary.embedded, summary.written) == (10, 10)
    assert latest_landing(instance, pipeline.embeddings_key)["duplicate_jobs"] == 1
    assert_accounted(summary, corpus)


def test_a_create_that_reaches_nothing_raises_unavailable_naming_the_endpoint(
    make_vertex_emulator,
) -> None:  # type: ignore[no-untyped-def]
    emulator = make_vertex_emulator()
    backend = _backend(emulator)
    emulator.refuse_connections(60.0)
    with pytest.raises(BackendUnavailable, match=r"Vertex AI at http://127\.0\.0\.1:\d+ is unr"):
        backend.find_jobs({"embed-assets-pipeline": "x"})


def test_a_tick_against_an_endpoint_that_never_answers_ends_within_its_budget(
    make_vertex_emulator, corpus_file, build, instance
) -> None:  # type: ignore[no-untyped-def]
    """The backend's defaults (60 s timeouts, 5 attempts) and the sensor's 40 s budget."""
    emulator = make_vertex_emulator()
    defaults = {  # what a user gets: `vertex_backend` otherwise shortens the retry delays
        name: VertexBatchBackend.model_fields[name].default
        for name in (
            "timeout_seconds",
            "retry_attempts",
            "retry_initial_delay_seconds",
            "retry_max_delay_seconds",
        )
    }
    assert defaults == {
        "timeout_seconds": 60.0,
        "retry_attempts": 5,
        "retry_initial_delay_seconds": 1.0,
        "retry_max_delay_seconds": 60.0,
    }
    backend = emulator.vertex_backend(**defaults)
    pipeline, defs = build(corpus_file(make_corpus(8)), backend=backend)
    materialize_submission(defs, pipeline, instance)
    emulator.faults.stall(600.0)  # accepts every call and answers none for ten minutes
    started = time.monotonic()
    tick = tick_sensor(defs, pipeline, instance, None)
    assert time.monotonic() - started <= DEFAULT_TIME_BUDGET_SECONDS + 5
    assert not tick.run_requests
    assert "Vertex AI is unreachable" in (tick.skip_message or "")
    emulator.faults.end_stall()
    tick, _ = tick_until_requested(defs, pipeline, instance, ticks=100, cursor=tick.cursor)
    assert len(tick.run_requests) == 1
