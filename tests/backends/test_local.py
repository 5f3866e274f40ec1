"""The local backend: detached workers, Vertex-shaped outputs, dead workers, cancel, slots."""

import os
import signal
import time
from pathlib import Path

from embed_assets import JobState, JobStatus, LocalBatchBackend, read_predictions
from embed_assets.backends.base import JobRequest
from embed_assets.predictions.lines import Prompt, RequestSchema, request_line
from embed_assets.testing import FaultyLocalBatchBackend


def stage(backend: LocalBatchBackend, texts: list[str], name: str = "s") -> str:
    staging = backend.staging()
    uri = staging.join(name, "requests-00000.jsonl")
    staging.write_bytes(
        uri,
        b"".join(
            request_line(
                Prompt(key="", content=t),
                schema=RequestSchema.LEGACY,
                task_type="RETRIEVAL_DOCUMENT",
            )
            for t in texts
        ),
    )
    return uri


def submit(
    backend: LocalBatchBackend, uri: str, *, auto_truncate: bool = True, labels=None
) -> JobStatus:  # type: ignore[no-untyped-def]
    return backend.submit(
        JobRequest(
            display_name="t",
            model="lexical-hash",
            input_uri=uri,
            output_uri_prefix=uri.rsplit("/", 1)[0] + "/out",
            labels=labels or {},
            prompts=0,
            auto_truncate=auto_truncate,
        )
    )


def wait(backend: LocalBatchBackend, name: str, timeout: float = 60) -> JobStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = backend.get(name)
        if status.is_terminal:
            return status
        time.sleep(0.1)
    raise AssertionError(f"{name} did not finish: {backend.get(name).describe()}")


def test_job_succeeds_with_vertex_layout_and_shuffled_rows(tmp_path: Path) -> None:
    backend = LocalBatchBackend(workdir=str(tmp_path))
    texts = [f"text number {i}" for i in range(200)]
    job = submit(backend, stage(backend, texts), labels={"embed-assets-submission": "abc"})
    assert job.state in (JobState.PENDING, JobState.RUNNING)
    assert job.name.rsplit("/", 1)[-1].isdigit()
    done = wait(backend, job.name)
    assert done.state is JobState.SUCCEEDED
    assert done.successful_count == 200 and done.failed_count == 0
    assert done.output_directory is not None
    assert Path(done.output_directory).name.startswith("prediction-model-")
    frame = read_predictions(done.output_directory)
    assert sorted(frame["content"]) == sorted(texts)
    assert frame["content"].tolist() != texts  # output order is not input order
    assert backend.find_jobs({"embed-assets-submission": "abc"})[0].name == job.name


def test_rows_over_the_limit_fail_without_auto_truncate(tmp_path: Path) -> None:
    backend = LocalBatchBackend(workdir=str(tmp_path))
    job = submit(backend, stage(backend, ["short", "word " * 3000]), auto_truncate=False)
    done = wait(backend, job.name)
    assert done.state is JobState.PARTIALLY_SUCCEEDED
    frame = read_predictions(done.output_directory or "")
    failed = frame[frame["status"] != ""]
    assert len(failed) == 1 and "autoTruncate" in failed["status"].iloc[0]


def test_a_killed_worker_is_reported_failed(tmp_path: Path) -> None:
    backend = FaultyLocalBatchBackend(workdir=str(tmp_path), seconds_per_chunk=30)
    job = submit(backend, stage(backend, ["a", "b"]))
    pid = backend.worker_pid(job.name)
    assert pid is not None
    deadline = time.monotonic() + 30
    while backend.get(job.name).state is not JobState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    done = wait(backend, job.name, timeout=10)
    assert done.state is JobState.FAILED
    assert done.error is not None
    assert f"worker process {pid} was killed by SIGKILL before the job" in done.error.message


def test_a_worker_that_crashes_leaves_its_cause(tmp_path: Path) -> None:
    """An abort in the worker (no Python error): the job's error names the signal and the log."""
    backend = FaultyLocalBatchBackend(workdir=str(tmp_path), crash=True)
    job = submit(backend, stage(backend, ["a", "b"]))
    done = wait(backend, job.name, timeout=30)
    assert done.state is JobState.FAILED and done.error is not None
    assert "was killed by SIGABRT before the job finished: Fatal Python error: Aborted" in (
        done.error.message
    )
    log = (tmp_path / "jobs" / job.name.rsplit("/", 1)[-1] / "worker.log").read_text()
    assert "Current thread" in log and "after_chunk" in log  # the traceback faulthandler wrote


def test_cancel_stops_a_running_job(tmp_path: Path) -> None:
    backend = FaultyLocalBatchBackend(workdir=str(tmp_path), seconds_per_chunk=0.5)
    job = submit(backend, stage(backend, [f"t{i}" for i in range(5000)]))
    backend.cancel(job.name)
    assert wait(backend, job.name).state is JobState.CANCELLED


def test_jobs_beyond_the_running_limit_wait_in_pending(tmp_path: Path) -> None:
    backend = FaultyLocalBatchBackend(
        workdir=str(tmp_path), max_running_jobs=1, seconds_per_chunk=2
    )
    first = submit(backend, stage(backend, ["a"], "one"))
    deadline = time.monotonic() + 30
    while backend.get(first.name).state is not JobState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.1)
    second = submit(backend, stage(backend, ["b"], "two"))
    time.sleep(1.0)
    assert backend.get(first.name).state is JobState.RUNNING
    assert backend.get(second.name).state is JobState.PENDING
    assert wait(backend, second.name).state is JobState.SUCCEEDED
