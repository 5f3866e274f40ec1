"""Two runs of the batch job at once, as two clicks in the UI launch them: one submits."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import job_records, make_corpus

pytestmark = pytest.mark.e2e  # real processes on one Dagster instance

ROOT = Path(__file__).resolve().parents[2]


def _start(home: Path, workdir: Path, corpus: Path, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.batch_job_process", str(workdir), str(corpus), *options],
        cwd=ROOT,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_second_run_of_the_batch_job_refuses_while_the_first_submits(tmp_path: Path) -> None:
    """400 rows: the first run creates 4 jobs slowly; the second, started meanwhile, fails naming
    the first run and creates none. 400 prompts in all, not 800."""
    home, workdir = tmp_path / "dagster", tmp_path / "w"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    corpus = tmp_path / "docs.csv"
    make_corpus(400).to_csv(corpus, index=False)
    first = _start(home, workdir, corpus, "--seconds-per-submit", "6")
    deadline = time.monotonic() + 120
    while not job_records(workdir):  # the first run is submitting: it holds the lock
        assert time.monotonic() < deadline and first.poll() is None, first.communicate()
        time.sleep(0.05)
    second = _start(home, workdir, corpus)
    second_out, second_err = second.communicate(timeout=120)
    first_out, first_err = first.communicate(timeout=120)
    one, two = json.loads(first_out.strip()), json.loads(second_out.strip())
    assert one["success"], first_err
    assert not two["success"]
    assert two["failure"].startswith(f"pipeline docs is being refreshed by run {one['run_id']}")
    assert one["prompts"] == 400
    while not all("totalCount" in job for job in job_records(workdir)):  # counted once they run
        assert time.monotonic() < deadline + 60
        time.sleep(0.1)
    jobs = job_records(workdir)
    assert len(jobs) == 4
    assert sum(int(str(job["totalCount"])) for job in jobs) == 400
