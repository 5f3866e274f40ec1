"""The sensor: progress across ticks, failed jobs never trigger a run, skips say why."""

import os
import re
import signal
import time

import pytest

from embed_assets import JobState
from embed_assets.pipeline.cursor import SensorOutcome, read_cursor
from embed_assets.pipeline.history import latest_submission
from embed_assets.testing import FaultyLocalBatchBackend
from tests.helpers import make_corpus, materialize_submission, tick_sensor


def test_without_a_submission_the_sensor_says_what_to_do(instance, corpus_file, build) -> None:  # type: ignore[no-untyped-def]
    pipeline, defs = build(corpus_file(make_corpus(5)))
    result = tick_sensor(defs, pipeline, instance, None)
    assert not result.run_requests
    assert "materialize docs/embedding_batch_job" in (result.skip_message or "")


def test_a_killed_worker_ends_failed_and_no_run_is_requested(
    instance, corpus_file, build, workdir
) -> None:  # type: ignore[no-untyped-def]
    backend = FaultyLocalBatchBackend(workdir=str(workdir), seconds_per_chunk=60)
    pipeline, defs = build(corpus_file(make_corpus(20)), backend=backend)
    materialize_submission(defs, pipeline, instance)
    submission = latest_submission(instance, pipeline.batch_job_key)
    assert submission is not None and len(submission.jobs) == 1
    name = submission.jobs[0].name
    first = tick_sensor(defs, pipeline, instance, None)
    assert not first.run_requests
    assert "1 of 1 jobs" in (first.skip_message or "")
    # PENDING or, once its worker has started (a fraction of a second), RUNNING
    assert re.search(
        r"not finished yet \(1 (PENDING|RUNNING)\): \d+ of 20 rows \(\d+%\), \d+ s elapsed.*; "
        "next check in 30 s",
        first.skip_message or "",
    )
    deadline = time.monotonic() + 30
    while backend.get(name).state is not JobState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.1)
    pid = backend.worker_pid(name)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    second = tick_sensor(defs, pipeline, instance, first.cursor)
    assert not second.run_requests
    assert read_cursor(second.cursor).outcome is SensorOutcome.FAILED
    assert "FAILED" in (second.skip_message or "")
    assert second.asset_events  # the failure is reported as an observation
    error = backend.get(name).error
    assert error is not None  # the cause, as this process saw the worker it started end
    assert f"the worker process {pid} was killed by SIGKILL before the job finished" in (
        error.message
    )
    third = tick_sensor(defs, pipeline, instance, second.cursor)
    assert not third.run_requests


@pytest.mark.parametrize("backend_kind", ["local", "vertex"])
def test_while_jobs_run_each_tick_says_rows_done_the_time_elapsed_and_the_time_left(
    backend_kind, instance, corpus_file, build, workdir, make_vertex_emulator
) -> None:  # type: ignore[no-untyped-def]
    """From the local backend's progress, or the service's completion stats (google-genai)."""
    backend = (  # 3 s per chunk of 512 rows
        make_vertex_emulator(seconds_per_chunk=3).vertex_backend()
        if backend_kind == "vertex"
        else FaultyLocalBatchBackend(workdir=str(workdir), seconds_per_chunk=3)
    )
    pipeline, defs = build(corpus_file(make_corpus(1100)), backend=backend)
    materialize_submission(defs, pipeline, instance)
    cursor, said, observed = None, [], []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        tick = tick_sensor(defs, pipeline, instance, cursor)
        cursor = tick.cursor
        observed += [dict(event.metadata) for event in tick.asset_events]
        if tick.run_requests:
            break
        said.append(tick.skip_message or "")
        time.sleep(0.5)
    assert tick.run_requests
    partway = r": 512 of 1,100 rows \(47%\), \d+ s elapsed, about \d+ (s|min) left; next check"
    assert [line for line in said if re.search(partway, line)], said
    assert {(o["rows_done"].value, o["rows_total"].value) for o in observed} >= {
        (512, 1100),
        (1100, 1100),
    }
    assert "elapsed" in observed[-1]["progress"].value
