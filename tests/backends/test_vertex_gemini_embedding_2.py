"""gemini-embedding-2 end to end: its locations, its inline task and title, its limits.

Google's batch embeddings page: batch in `global`, `us` and `eu`, JSONL on Cloud Storage only,
1,000,000 rows or 1 GB a job, and "the task type and title inlined directly within the
prompt". Through the real google-genai client against the emulator.
"""

import orjson
import pytest
from google.cloud import storage

from embed_assets import VertexBatchBackend
from embed_assets.cli.runner import PipelineRunError
from embed_assets.errors import ConfigError
from embed_assets.models.catalog import model_spec
from embed_assets.testing import VertexEmulator
from tests.helpers import make_corpus, table

pytestmark = pytest.mark.e2e

MODEL = "gemini-embedding-2"


@pytest.fixture
def backend_kind() -> str:
    """Every pipeline in this file runs on the Vertex backend against the emulator."""
    return "vertex"


def _request_lines(prefix: str) -> list[dict]:  # type: ignore[type-arg]
    blobs = storage.Client(project="p").list_blobs("embed-assets", prefix=prefix)
    return [
        orjson.loads(line)
        for blob in blobs
        if "/requests-" in blob.name
        for line in blob.download_as_bytes().splitlines()
    ]


@pytest.mark.parametrize("location", ["global", "us"])
def test_it_runs_where_google_runs_it_with_the_task_and_title_in_the_text(
    vertex_emulator: VertexEmulator, corpus_file, build, run, location: str
) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(12).assign(title=["Guide"] * 6 + [None] * 6)
    backend = vertex_emulator.vertex_backend(
        location=location, staging_uri=f"gs://embed-assets/{location}"
    )
    pipeline, defs = build(
        corpus_file(corpus), model=MODEL, title_column="title", backend=backend, keep_staging=True
    )
    summary = run(pipeline, defs)
    assert summary.embedded == 12 and summary.failed == 0
    vectors = table(defs, pipeline)["embedding"]
    assert {len(vector) for vector in vectors} == {3072}  # its default dimensions
    (job,) = vertex_emulator.jobs()
    assert f"/locations/{location}/" in job["name"]
    lines = _request_lines(f"{location}/")
    texts = sorted(line["request"]["content"]["parts"][0]["text"] for line in lines)
    assert texts == sorted(
        f"title: {title or 'none'} | text: {content}"
        for title, content in zip(corpus["title"], corpus["content"], strict=True)
    )
    assert all("task_type" not in line["request"].get("embed_content_config", {}) for line in lines)
    assert all("title" not in line["request"].get("embed_content_config", {}) for line in lines)


def test_queries_are_written_as_tasks(
    vertex_emulator: VertexEmulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    pipeline, defs = build(
        corpus_file(make_corpus(3)),
        model=MODEL,
        task_type="RETRIEVAL_QUERY",
        output_dimensionality=768,
        keep_staging=True,
        backend=vertex_emulator.vertex_backend(location="global"),
    )
    assert run(pipeline, defs).embedded == 3
    lines = _request_lines("embed-assets/")
    assert all(
        line["request"]["content"]["parts"][0]["text"].startswith("task: search result | query: ")
        for line in lines
    )
    assert {line["request"]["embed_content_config"]["output_dimensionality"] for line in lines} == {
        768
    }


def test_its_limits_and_locations_are_the_registry_s() -> None:
    spec = model_spec(MODEL)
    assert (spec.max_prompts_per_job, spec.max_bytes_per_job) == (1_000_000, 1_000_000_000)
    assert spec.batch_locations == ("global", "us", "eu") and not spec.bigquery
    assert (spec.dimension, spec.max_input_tokens) == (3072, 8192)


def test_outside_its_locations_or_their_data_it_is_refused_before_anything_is_uploaded(
    make_vertex_emulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    emulator = make_vertex_emulator()  # its buckets are in US-CENTRAL1
    path = corpus_file(make_corpus(4))
    regional, defs = build(path, model=MODEL, backend=emulator.vertex_backend())
    with pytest.raises(PipelineRunError, match=r"location='us-central1': gemini-embedding-2 batch"):
        run(regional, defs)
    europe, defs = build(path, model=MODEL, backend=emulator.vertex_backend(location="eu"))
    with pytest.raises(PipelineRunError, match=r"the bucket is in US-CENTRAL1.*location='eu'"):
        run(europe, defs)
    assert emulator.calls["create"] == 0


def test_google_genai_sends_each_location_to_its_endpoint() -> None:
    """Without `api_endpoint`, the SDK picks the host; the backend names the same one."""
    for location, host in (
        ("global", "https://aiplatform.googleapis.com/"),
        ("us", "https://aiplatform.us.rep.googleapis.com/"),
        ("eu", "https://aiplatform.eu.rep.googleapis.com/"),
        ("us-central1", "https://us-central1-aiplatform.googleapis.com/"),
    ):
        backend = VertexBatchBackend(
            project="p", location=location, staging_uri="gs://b/x", access_token="t"
        )
        client = backend.genai_client()
        # the SDK's own choice (no public accessor): what every call of this client uses
        assert client._api_client._http_options.base_url == host  # noqa: SLF001
        assert backend.endpoint + "/" == host


def test_a_switch_from_gemini_embedding_001_builds_a_new_generation(
    vertex_emulator: VertexEmulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(10)
    path = corpus_file(corpus)
    old, old_defs = build(path, model="gemini-embedding-001", output_dimensionality=256)
    assert run(old, old_defs).embedded == 10
    new, new_defs = build(
        path,
        model=MODEL,
        output_dimensionality=256,
        backend=vertex_emulator.vertex_backend(location="us"),
    )
    switched = run(new, new_defs)
    assert switched.prompts == 10  # another model: every text again, into a new generation
    assert switched.serving_model == MODEL and switched.building_model is None
    assert set(table(new_defs, new)["model"]) == {MODEL}
    assert sorted(table(new_defs, new)["id"]) == sorted(corpus["id"])


def test_an_unknown_model_fails_in_one_line_naming_how_to_declare_it() -> None:
    with pytest.raises(ConfigError) as raised:
        model_spec("text-embedding-006")
    message = str(raised.value)
    assert "\n" not in message and "ModelSpec(name='text-embedding-006'" in message
    assert "YAML: model: {name:" in message
