"""`embed-assets emulator` serves a usable Vertex endpoint; `embed-assets cancel` stops jobs."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest

from embed_assets.backends.base import JobRequest, JobState
from embed_assets.cli import main
from embed_assets.pipeline.history import latest_submission
from embed_assets.testing import JobFault
from embed_assets.testing.gcs import free_port
from tests.helpers import make_corpus

pytestmark = pytest.mark.e2e  # each test runs the whole pipeline


def test_the_emulator_command_prints_every_endpoint_and_serves_until_stopped(
    tmp_path: Path,
) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "embed_assets.cli", "emulator", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert server.stdout is not None
        endpoint = server.stdout.readline().strip()
        storage_line = server.stdout.readline().strip()
        assert endpoint == f"Vertex endpoint: http://127.0.0.1:{port}"
        assert storage_line.startswith("STORAGE_EMULATOR_HOST=http://127.0.0.1:")
        bigquery_line = server.stdout.readline().strip()
        assert bigquery_line.startswith("BIGQUERY_EMULATOR_HOST=http://127.0.0.1:")
        os.environ["BIGQUERY_EMULATOR_HOST"] = bigquery_line.partition("=")[2]
        from embed_assets.bigquery.client import bigquery_client, query_rows

        with bigquery_client(project="emulator") as client:
            assert query_rows(client, "SELECT 1 + 1") == [(2,)]
        os.environ["STORAGE_EMULATOR_HOST"] = storage_line.partition("=")[2]
        from embed_assets import VertexBatchBackend

        backend = VertexBatchBackend(
            project="p",
            staging_uri="gs://embed-assets/cli",
            api_endpoint=f"http://127.0.0.1:{port}",
            access_token="x",
        )
        staging = backend.staging()
        staging.write_bytes(staging.join("r.jsonl"), b'{"content": "hello"}\n')
        job = backend.submit(
            JobRequest(
                display_name="cli",
                model="text-embedding-005",
                input_uri=staging.join("r.jsonl"),
                output_uri_prefix=staging.join("out"),
                labels={},
                prompts=1,
            )
        )
        deadline = time.monotonic() + 60
        while not (job := backend.get(job.name)).is_terminal and time.monotonic() < deadline:
            time.sleep(0.2)
        assert job.state is JobState.SUCCEEDED and len(backend.output_files(job)) == 1
    finally:
        os.environ.pop("STORAGE_EMULATOR_HOST", None)
        os.environ.pop("BIGQUERY_EMULATOR_HOST", None)
        os.killpg(server.pid, signal.SIGTERM)
        assert server.wait(timeout=30) == 0


def test_cancel_stops_the_latest_submissions_unfinished_jobs(
    vertex_emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    make_corpus(10).to_json(tmp_path / "corpus.jsonl", orient="records", lines=True)
    definitions = tmp_path / "definitions.py"
    definitions.write_text(
        textwrap.dedent(
            f"""
            from embed_assets import DuckDBEmbeddingStore, EmbeddingPipeline, VertexBatchBackend

            pipeline = EmbeddingPipeline(
                name="docs", corpus={str(tmp_path / "corpus.jsonl")!r}, model="text-embedding-005"
            )
            defs = pipeline.build_definitions(
                backend=VertexBatchBackend(
                    project="p",
                    staging_uri="gs://embed-assets/docs",
                    api_endpoint={vertex_emulator.endpoint!r},
                    access_token="x",
                ),
                store=DuckDBEmbeddingStore(path={str(tmp_path / "e.duckdb")!r}),
            )
            """
        )
    )
    home = tmp_path / "dagster"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    vertex_emulator.inject(JobFault(stuck_pending=True))
    from embed_assets.cli.commands import _load_definitions

    defs = _load_definitions(str(definitions))
    with dg.DagsterInstance.get() as instance:
        job = defs.resolve_implicit_global_asset_job_def()
        selection = [dg.AssetKey(["docs", "corpus"]), dg.AssetKey(["docs", "embedding_batch_job"])]
        assert job.execute_in_process(instance=instance, asset_selection=selection).success
        submission = latest_submission(instance, dg.AssetKey(["docs", "embedding_batch_job"]))
    assert submission is not None
    args = ["--workdir", str(tmp_path / "w"), "cancel", "--name", "docs"]
    assert main([*args, "--definitions", str(definitions)]) == 0
    assert "cancelled 1 of 1 jobs" in capsys.readouterr().out
    backend = defs.resources["docs_embedding_backend"]
    deadline = time.monotonic() + 30
    while (state := backend.get(submission.jobs[0].name).state) is not JobState.CANCELLED:
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert main([*args, "--definitions", str(definitions)]) == 0
    assert "already finished" in capsys.readouterr().out
