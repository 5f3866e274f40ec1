"""65,000 documents on text-embedding-005 (emulated): 3 jobs, 2 may run, the third waits."""

import threading
import time
from collections import Counter

import pytest

from tests.helpers import assert_accounted, make_corpus, table

pytestmark = pytest.mark.e2e  # each test runs the whole pipeline

ROWS = 65_000


@pytest.fixture
def backend_kind() -> str:
    """The pipeline runs on the Vertex backend against the emulator."""
    return "vertex"


def test_65000_documents_split_into_three_jobs_and_the_third_waits_in_pending(
    make_vertex_emulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    emulator = make_vertex_emulator(max_running_jobs=2)
    corpus = make_corpus(ROWS)
    pipeline, defs = build(corpus_file(corpus), backend=emulator.vertex_backend())
    snapshots: list[Counter[str]] = []
    done = threading.Event()

    def watch() -> None:  # what the service shows while the jobs run
        while not done.is_set():
            snapshots.append(Counter(job["state"] for job in emulator.jobs()))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.monotonic()
    try:
        summary = run(pipeline, defs)
    finally:
        done.set()
        watcher.join()
    print(f"65,000 documents on the emulated Vertex path: {time.monotonic() - started:.1f} s")
    assert summary.jobs == 3
    assert sorted(j["completionStats"]["successfulCount"] for j in emulator.jobs()) == [
        "21666",
        "21667",
        "21667",
    ]
    assert max(s["JOB_STATE_RUNNING"] for s in snapshots) <= 2
    assert any(s["JOB_STATE_RUNNING"] == 2 and s["JOB_STATE_PENDING"] == 1 for s in snapshots), (
        "the third job never waited in PENDING behind two running ones"
    )
    assert set(summary.job_states.values()) == {"SUCCEEDED"}
    assert (summary.embedded, summary.failed) == (ROWS, 0)
    assert_accounted(summary, corpus)
    assert len(table(defs, pipeline)) == ROWS
