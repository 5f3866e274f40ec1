"""The sensor's polling against the Vertex emulator with many unfinished jobs."""

import os
import statistics
import tempfile
import time
from typing import Any

from bench.tasks import submission_record
from embed_assets.backends.base import JobRequest
from embed_assets.jobs.handler import SubmissionHandler
from embed_assets.jobs.record import SubmittedJob
from embed_assets.pipeline.cursor import JobSensorCursor, read_cursor
from embed_assets.testing import JobFault, VertexEmulator


def measure_ticks(*, jobs: int, short_budget_seconds: float) -> dict[str, Any]:
    """Creates `jobs` jobs held in PENDING, then ticks: full budget, short budget, none unfinished.

    Returns the tick wall times, the `get` calls per tick (counted by the emulator), and the
    polls per job, for ticks with a 40 s budget and with `short_budget_seconds`.
    """
    with tempfile.TemporaryDirectory() as workdir, VertexEmulator(workdir=workdir) as emulator:
        os.environ["STORAGE_EMULATOR_HOST"] = emulator.gcs_url
        backend = emulator.vertex_backend()
        staging = backend.staging()
        input_uri = staging.join("bench", "requests.jsonl")
        staging.write_bytes(input_uri, b'{"content": "hello"}\n')
        emulator.inject(JobFault(stuck_pending=True), count=None)
        submitted = []
        for shard in range(jobs):
            status = backend.submit(
                JobRequest(
                    display_name=f"bench-{shard:05d}",
                    model="text-embedding-005",
                    input_uri=input_uri,
                    output_uri_prefix=staging.join("bench", "out", str(shard)),
                    labels={"bench": "sensor"},
                    prompts=1,
                )
            )
            submitted.append(SubmittedJob(shard, status.name, status.display_name, input_uri, 1, 5))
        submission = submission_record(
            submission_id="bench-sensor", jobs=tuple(submitted), prompts=jobs
        )

        handler = SubmissionHandler(backend=backend, submission=submission)

        def tick(cursor: JobSensorCursor, budget: float) -> tuple[float, int, JobSensorCursor]:
            before = emulator.calls["get"]
            start = time.monotonic()
            result = handler.poll(
                states=cursor.states, resume_at=cursor.resume_at, deadline=start + budget
            )
            seconds = time.monotonic() - start
            after = read_cursor(cursor.with_poll(result).serialize())
            return seconds, emulator.calls["get"] - before, after

        cursor = JobSensorCursor(submission_id=submission.submission_id)
        full = [tick(cursor, 40.0) for _ in range(3)]
        cursor = JobSensorCursor(submission_id=submission.submission_id)
        short: list[tuple[float, int]] = []
        polled_before = emulator.calls["get"]
        while emulator.calls["get"] - polled_before < jobs:  # until every job was polled once
            seconds, gets, cursor = tick(cursor, short_budget_seconds)
            short.append((seconds, gets))
        for job in submission.jobs:
            backend.cancel(job.name)
        cursor = JobSensorCursor(submission_id=submission.submission_id)
        _, _, cursor = tick(cursor, 40.0)  # sees every job CANCELLED
        idle_seconds, idle_gets, _ = tick(cursor, 40.0)
    return {
        "jobs": jobs,
        "full_tick_seconds": statistics.median(t[0] for t in full),
        "full_tick_gets": max(t[1] for t in full),
        "short_budget_seconds": short_budget_seconds,
        "short_ticks": len(short),
        "short_tick_max_seconds": max(t[0] for t in short),
        "short_tick_max_gets": max(t[1] for t in short),
        "idle_tick_gets": idle_gets,
        "idle_tick_seconds": idle_seconds,
    }
