"""Nothing paid twice: a refresh interrupted by a real signal, then rerun, pays each text once.

Each refresh runs in its own process (`tests.refresh_process`, the CLI's runner with slow
local jobs); the test signals it at a real point found by polling the job records, reruns it,
and counts the prompts of every job ever created against the texts that needed embedding.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from embed_assets import DuckDBEmbeddingStore
from tests.helpers import job_records, make_corpus

pytestmark = pytest.mark.e2e  # each test runs real refresh processes

ROOT = Path(__file__).resolve().parents[2]


def _start(workdir: Path, corpus: Path, *options: str) -> subprocess.Popen[str]:
    # a killed refresh cannot remove its temporary folders: they go where pytest cleans up
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.refresh_process", str(workdir), str(corpus), *options],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TMPDIR": str(workdir / "tmp")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _prompts_submitted(workdir: Path) -> int:
    """Prompts every job ever created took in (`totalCount`): what the service would bill.

    Counted from the job records, since landing deletes the request files.
    """
    return sum(int(str(record.get("totalCount") or 0)) for record in job_records(workdir))


def _wait_for(condition, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the refresh to reach the point")
        time.sleep(0.02)


def _rerun(workdir: Path, corpus: Path) -> dict[str, object]:
    done = _start(workdir, corpus)
    out, err = done.communicate(timeout=240)
    assert done.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _runs_left_started(workdir: Path) -> int:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(workdir / "dagster")) as instance:
        started = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    return len(started)


def _stored_ids(workdir: Path) -> list[str]:
    store = DuckDBEmbeddingStore(path=str(workdir / "w" / "embeddings.duckdb"))
    return sorted(store.read("docs")["id"])


def test_ctrl_c_while_jobs_run_then_rerun_pays_each_text_once(tmp_path: Path) -> None:
    """SIGINT once one job finished and others wait; the rerun adopts them all: 1,200 prompts."""
    corpus = make_corpus(1200)
    corpus.to_csv(tmp_path / "docs.csv", index=False)
    work = tmp_path / "w"
    first = _start(
        work, tmp_path / "docs.csv", "--seconds-per-chunk", "1.5", "--max-prompts", "300"
    )

    def one_done_others_not() -> bool:
        states = [str(r["state"]) for r in job_records(work)]
        return (
            "JOB_STATE_SUCCEEDED" in states
            and len(states) == 4
            and any(s in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING") for s in states)
        )

    _wait_for(one_done_others_not)
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=60)
    assert first.returncode != 0  # interrupted, not finished
    summary = _rerun(work, tmp_path / "docs.csv")
    assert summary["prompts"] == 0  # every text was already paid for
    assert _prompts_submitted(work) == 1200
    assert _stored_ids(tmp_path) == sorted(corpus["id"])


def test_ctrl_c_as_the_submit_run_ends_stops_the_refresh_and_the_rerun_pays_nothing(
    tmp_path: Path,
) -> None:
    """SIGINT as the submit run ends, where Dagster would drop it: the refresh stops there."""
    corpus = make_corpus(300)
    corpus.to_csv(tmp_path / "docs.csv", index=False)
    work = tmp_path / "w"
    first = _start(
        work, tmp_path / "docs.csv", "--max-prompts", "100", "--interrupt-at-first-run-end"
    )
    out, err = first.communicate(timeout=120)
    assert (work / "interrupted").exists()
    assert first.returncode != 0, f"{out}\n{err[-4000:]}"  # stopped, not waited for and landed
    assert "KeyboardInterrupt" in err
    assert len(job_records(work)) == 3  # submitted before the signal
    summary = _rerun(work, tmp_path / "docs.csv")
    assert summary["prompts"] == 0  # the rerun adopted the three jobs
    assert _prompts_submitted(work) == 300
    assert _stored_ids(tmp_path) == sorted(corpus["id"])


def test_sigkill_during_submission_then_rerun_pays_each_text_once(tmp_path: Path) -> None:
    """SIGKILL after some of 40 jobs were created (before Dagster recorded any): 2,000 prompts."""
    corpus = make_corpus(2000)
    corpus.to_csv(tmp_path / "docs.csv", index=False)
    work = tmp_path / "w"
    first = _start(work, tmp_path / "docs.csv", "--max-prompts", "50")
    _wait_for(lambda: len(job_records(work)) >= 2)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    created = len(job_records(work))
    assert 2 <= created < 40, f"the kill came after all jobs were created ({created})"
    assert _runs_left_started(work) == 1  # the killed run
    summary = _rerun(work, tmp_path / "docs.csv")
    assert summary["prompts"] == 2000 - 50 * created  # shards of exactly 50: 2,000 in 40
    assert _prompts_submitted(work) == 2000
    assert _runs_left_started(work) == 0  # the killed run was marked failed by the rerun
    assert summary["failed"] == 0, summary["failed_examples"]
    assert _stored_ids(tmp_path) == sorted(corpus["id"])


def test_sigkill_during_landing_then_rerun_lands_what_was_paid_for(tmp_path: Path) -> None:
    """SIGKILL after 3 of 20 prediction files were written to the table: 2,000 prompts in all."""
    corpus = make_corpus(2000)
    corpus.to_csv(tmp_path / "docs.csv", index=False)
    work = tmp_path / "w"
    first = _start(
        work,
        tmp_path / "docs.csv",
        *("--max-prompts", "500", "--rows-per-file", "100", "--seconds-per-write", "1"),
    )
    _wait_for(lambda: len(list(work.glob("landed-*"))) >= 3)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    landed_before = len(_stored_ids(tmp_path))
    assert 300 <= landed_before < 2000  # killed in the middle of landing
    summary = _rerun(work, tmp_path / "docs.csv")
    assert summary["prompts"] == 0  # the predictions on disk were landed, not bought again
    assert _prompts_submitted(work) == 2000
    assert summary["failed"] == 0, summary["failed_examples"]
    assert _stored_ids(tmp_path) == sorted(corpus["id"])
    assert _runs_left_started(work) == 0


def test_two_refreshes_at_once_the_second_refuses_and_nothing_is_paid_twice(
    tmp_path: Path,
) -> None:
    """A second process on the same pipeline refuses, naming the first; 400 prompts, not 800."""
    corpus = make_corpus(400)
    corpus.to_csv(tmp_path / "docs.csv", index=False)
    work = tmp_path / "w"
    # the first job runs 25 s: time for the second process to start (imports, instance) and
    # reach the lock while the first still holds it, also when CI runs three tests at once
    first = _start(work, tmp_path / "docs.csv", "--seconds-per-chunk", "25")
    _wait_for(lambda: len(job_records(work)) >= 1)
    second = _start(work, tmp_path / "docs.csv")
    _, err = second.communicate(timeout=120)
    assert second.returncode != 0, err
    assert f"pipeline docs is being refreshed by process {first.pid}" in err, err
    out, err = first.communicate(timeout=240)
    assert first.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["embedded"] == 400
    assert _prompts_submitted(work) == 400
    assert _stored_ids(tmp_path) == sorted(corpus["id"])
