"""The emulator speaks Vertex's batchPredictionJobs REST API, checked with the real clients."""

import re
import time
import urllib.error
import urllib.request
from typing import Any

import google.oauth2.credentials
import orjson
import pytest
from google import genai
from google.cloud import storage
from google.genai import errors, types

from embed_assets.testing import JobFault, VertexEmulator

PROJECT, LOCATION = "demo-project", "us-central1"


def genai_client(emulator: VertexEmulator) -> genai.Client:
    return genai.Client(
        vertexai=True,
        project=PROJECT,
        location=LOCATION,
        credentials=google.oauth2.credentials.Credentials(token="test"),
        http_options=types.HttpOptions(base_url=emulator.endpoint, api_version="v1"),
    )


def stage_requests(rows: int, name: str = "requests.jsonl") -> str:
    lines = b"".join(
        orjson.dumps({"content": f"text {i} about rivers", "task_type": "RETRIEVAL_DOCUMENT"})
        + b"\n"
        for i in range(rows)
    )
    storage.Client(project=PROJECT).bucket("embed-assets").blob(f"in/{name}").upload_from_string(
        lines
    )
    return f"gs://embed-assets/in/{name}"


def create(client: genai.Client, src: str, name: str, labels: dict[str, str] | None = None) -> str:
    job = client.batches.create(
        model="text-embedding-005",
        src=src,
        config=types.CreateBatchJobConfig(
            display_name=name,
            dest=f"gs://embed-assets/out/{name}",
            http_options=types.HttpOptions(extra_body={"labels": labels or {}}),
        ),
    )
    assert job.name is not None
    return job.name


def raw(emulator: VertexEmulator, method: str, path: str, token: bool = True) -> tuple[int, Any]:
    request = urllib.request.Request(f"{emulator.endpoint}/v1/{path}", method=method)
    if token:
        request.add_header("Authorization", "Bearer test")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


def wait_terminal(client: genai.Client, name: str, timeout: float = 60) -> types.BatchJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.batches.get(name=name)
        if job.state and job.state.name in (
            "JOB_STATE_SUCCEEDED",
            "JOB_STATE_FAILED",
            "JOB_STATE_CANCELLED",
            "JOB_STATE_PARTIALLY_SUCCEEDED",
        ):
            return job
        time.sleep(0.1)
    raise AssertionError(f"{name} did not finish")


def test_a_job_looks_like_vertex_and_its_output_is_shuffled_over_files(
    make_vertex_emulator,
) -> None:  # type: ignore[no-untyped-def]
    emulator = make_vertex_emulator(rows_per_file=7)
    client = genai_client(emulator)
    name = create(client, stage_requests(20), "shape")
    job_id = name.rsplit("/", 1)[-1]
    assert job_id.isdigit()
    assert re.fullmatch(rf"projects/\d+/locations/{LOCATION}/batchPredictionJobs/\d+", name)
    job = wait_terminal(client, name)
    assert job.state is not None and job.state.name == "JOB_STATE_SUCCEEDED"
    status, body = raw(emulator, "GET", name)
    assert status == 200
    assert body["completionStats"]["successfulCount"] == "20"  # int64 as a JSON string
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", body["createTime"])
    directory = body["outputInfo"]["gcsOutputDirectory"]
    assert re.fullmatch(r"gs://embed-assets/out/shape/prediction-model-\S+Z", directory)
    blobs = list(storage.Client(project=PROJECT).list_blobs("embed-assets", prefix="out/shape/"))
    assert len(blobs) == 3  # 20 rows, 7 per file
    lines = [orjson.loads(line) for b in blobs for line in b.download_as_bytes().splitlines()]
    assert len(lines) == 20
    assert {len(line["predictions"][0]["embeddings"]["values"]) for line in lines} == {768}
    order = [line["instance"]["content"] for line in lines]
    assert order != sorted(order, key=lambda text: int(text.split()[1]))


def test_list_filters_on_labels_display_name_and_state_and_pages(vertex_emulator) -> None:  # type: ignore[no-untyped-def]
    client = genai_client(vertex_emulator)
    src = stage_requests(3)
    for index in range(5):
        create(client, src, f"job-{index}", {"team": "a" if index % 2 else "b"})
    listed = list(
        client.batches.list(config=types.ListBatchJobsConfig(filter='labels.team="a"', page_size=1))
    )
    assert sorted(job.display_name or "" for job in listed) == ["job-1", "job-3"]
    status, page = raw(
        vertex_emulator,
        "GET",
        f"projects/{PROJECT}/locations/{LOCATION}/batchPredictionJobs?pageSize=2",
    )
    assert status == 200 and len(page["batchPredictionJobs"]) == 2 and page["nextPageToken"]
    by_name = list(
        client.batches.list(config=types.ListBatchJobsConfig(filter='display_name="job-4"'))
    )
    assert [job.display_name for job in by_name] == ["job-4"]
    for job in list(client.batches.list()):
        assert job.name is not None
        wait_terminal(client, job.name)
    done = list(
        client.batches.list(config=types.ListBatchJobsConfig(filter="state=JOB_STATE_SUCCEEDED"))
    )
    assert len(done) == 5
    with pytest.raises(errors.ClientError) as refused:
        list(client.batches.list(config=types.ListBatchJobsConfig(filter="colour=blue")))
    assert refused.value.code == 400


def test_cancel_and_delete_follow_the_job_state(vertex_emulator) -> None:  # type: ignore[no-untyped-def]
    client = genai_client(vertex_emulator)
    vertex_emulator.inject(JobFault(stuck_pending=True))
    name = create(client, stage_requests(3), "stuck")
    time.sleep(0.5)
    job = client.batches.get(name=name)
    assert job.state is not None and job.state.name == "JOB_STATE_PENDING"
    status, body = raw(vertex_emulator, "DELETE", name)
    assert status == 400 and body["error"]["status"] == "FAILED_PRECONDITION"
    client.batches.cancel(name=name)
    assert wait_terminal(client, name).state.name == "JOB_STATE_CANCELLED"  # type: ignore[union-attr]
    status, body = raw(vertex_emulator, "POST", f"{name}:cancel")
    assert status == 400 and body["error"]["status"] == "FAILED_PRECONDITION"
    client.batches.delete(name=name)
    status, body = raw(vertex_emulator, "GET", name)
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"


def test_bad_requests_are_refused_with_the_field_named(vertex_emulator) -> None:  # type: ignore[no-untyped-def]
    status, body = raw(
        vertex_emulator,
        "GET",
        f"projects/{PROJECT}/locations/{LOCATION}/batchPredictionJobs",
        token=False,
    )
    assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED"
    client = genai_client(vertex_emulator)
    src = stage_requests(2)
    cases = [  # a model it does not serve is not found, as the service answers
        ({"model": "text-bison"}, 404, "PublisherModel publishers/google/models/text-bison"),
        ({"labels": {"Bad Key": "x"}}, 400, "label Bad Key"),
        ({"modelParameters": {"outputDimensionality": 4096}}, 400, "output_dimensionality=4096"),
    ]
    for change, code, message in cases:
        with pytest.raises(errors.ClientError) as refused:
            client.batches.create(
                model=change.pop("model", "text-embedding-005"),
                src=src,
                config=types.CreateBatchJobConfig(
                    display_name="bad",
                    dest="gs://embed-assets/out/bad",
                    http_options=types.HttpOptions(extra_body=change),
                ),
            )
        assert refused.value.code == code and message in (refused.value.message or "")
    assert vertex_emulator.jobs() == []


def test_jobs_beyond_the_running_limit_wait_in_pending(make_vertex_emulator) -> None:  # type: ignore[no-untyped-def]
    emulator = make_vertex_emulator(max_running_jobs=1, seconds_per_chunk=1.0)
    client = genai_client(emulator)
    src = stage_requests(600)  # two chunks of 512: about 2 s per job
    first, second = create(client, src, "first"), create(client, src, "second")
    seen: set[tuple[str, str]] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = tuple(client.batches.get(name=n).state.name for n in (first, second))  # type: ignore[union-attr]
        seen.add(states)  # type: ignore[arg-type]
        if all(s == "JOB_STATE_SUCCEEDED" for s in states):
            break
        time.sleep(0.1)
    assert ("JOB_STATE_SUCCEEDED", "JOB_STATE_SUCCEEDED") in seen
    running = {s for s in seen if "JOB_STATE_RUNNING" in s}
    assert running and all(s.count("JOB_STATE_RUNNING") == 1 for s in running)
    assert any("JOB_STATE_PENDING" in s and "JOB_STATE_RUNNING" in s for s in seen)


def test_a_job_has_the_service_s_shape_from_queued_to_succeeded_with_failed_rows_inline(
    vertex_emulator,
) -> None:  # type: ignore[no-untyped-def]
    """QUEUED before PENDING, no completionStats until something is counted, zero counters
    left out, modelVersionId always there, empty labels left out, and a job whose rows partly
    failed ends SUCCEEDED with the failed rows in its output."""
    client = genai_client(vertex_emulator)
    vertex_emulator.inject(JobFault(queued_seconds=2, fail_every_nth_row=4))
    name = create(client, stage_requests(20, "queued.jsonl"), "queued")
    status, body = raw(vertex_emulator, "GET", name)
    assert status == 200 and body["state"] == "JOB_STATE_QUEUED"
    assert client.batches.get(name=name).state.name == "JOB_STATE_QUEUED"  # type: ignore[union-attr]
    assert "completionStats" not in body and "labels" not in body
    assert body["modelVersionId"] == "1"
    job = wait_terminal(client, name)
    assert job.state is not None and job.state.name == "JOB_STATE_SUCCEEDED"
    _, body = raw(vertex_emulator, "GET", name)
    assert body["completionStats"] == {"successfulCount": "15", "failedCount": "5"}
    directory = body["outputInfo"]["gcsOutputDirectory"].removeprefix("gs://embed-assets/")
    blobs = storage.Client(project=PROJECT).list_blobs("embed-assets", prefix=directory)
    lines = [orjson.loads(line) for b in blobs for line in b.download_as_bytes().splitlines()]
    assert sum(1 for line in lines if line["status"]) == 5

    name = create(client, stage_requests(8, "clean.jsonl"), "clean")
    wait_terminal(client, name)
    _, body = raw(vertex_emulator, "GET", name)
    assert body["completionStats"] == {"successfulCount": "8"}  # no zero failedCount


def test_partially_succeeded_is_still_produced_on_request(vertex_emulator) -> None:  # type: ignore[no-untyped-def]
    client = genai_client(vertex_emulator)
    vertex_emulator.inject(JobFault(final_state="PARTIALLY_SUCCEEDED"))
    name = create(client, stage_requests(10, "partial.jsonl"), "partial")
    job = wait_terminal(client, name)
    assert job.state is not None and job.state.name == "JOB_STATE_PARTIALLY_SUCCEEDED"
