"""Nothing paid twice with BigQuery in and out: Ctrl-C while Vertex jobs run, then a rerun.

The refresh runs in its own process (`tests.refresh_process`) against the Vertex emulator
started here, whose jobs read prompts tables from and write prediction tables to the BigQuery
emulator; the corpus and the embedding table are in BigQuery too.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from embed_assets import BigQueryEmbeddingStore
from embed_assets.bigquery.client import bigquery_client
from embed_assets.testing.emulator import VertexEmulator
from embed_assets.testing.fixtures import BigQueryTestSpace
from tests.helpers import make_corpus, write_bigquery_table

pytestmark = pytest.mark.e2e  # real refresh processes, real signals

ROOT = Path(__file__).resolve().parents[2]


def test_ctrl_c_while_bigquery_jobs_run_then_rerun_pays_each_text_once(
    tmp_path: Path,
    bigquery_emulator: BigQueryTestSpace,
    make_vertex_emulator: Callable[..., VertexEmulator],
) -> None:
    project = bigquery_emulator.project
    raw, staging, embeddings = (bigquery_emulator.dataset(n) for n in ("raw", "stage", "emb"))
    corpus = make_corpus(400)
    uri = write_bigquery_table(f"{raw}.docs", corpus, project=project)
    with bigquery_client(project=project) as client:
        client.create_dataset(f"{project}.{staging}")
    # one job runs at a time, each about two seconds: one finishes while the others wait
    emulator = make_vertex_emulator(
        bigquery_url=bigquery_emulator.server.url, max_running_jobs=1, seconds_per_chunk=2.0
    )
    command = [
        sys.executable, "-m", "tests.refresh_process", str(tmp_path / "w"), uri,
        "--max-prompts", "100", "--vertex-endpoint", emulator.endpoint,
        "--staging-uri", f"bq://{project}.{staging}", "--bigquery-dataset", embeddings,
    ]  # fmt: skip

    def start() -> subprocess.Popen[str]:
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def states() -> list[str]:
        return [str(job["state"]) for job in emulator.jobs()]

    first = start()
    deadline = time.monotonic() + 120
    while not ("JOB_STATE_SUCCEEDED" in states() and len(states()) == 4):
        assert time.monotonic() < deadline, f"jobs never got there: {states()}"
        assert first.poll() is None, first.communicate()[1]
        time.sleep(0.05)
    assert any(s in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING") for s in states())
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=60)
    assert first.returncode != 0  # interrupted, not finished

    again = start()
    out, err = again.communicate(timeout=240)
    assert again.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["prompts"] == 0  # every text was already paid for
    engine = emulator.engine(project, "us-central1")
    paid = sum(int(record["totalCount"]) for record in engine.list())
    assert (len(engine.list()), paid) == (4, 400)
    store = BigQueryEmbeddingStore(project=project, dataset=embeddings)
    assert sorted(store.read("docs")["id"]) == sorted(corpus["id"])
