"""Regions are checked before anything is uploaded or created (real clients, emulators)."""

from collections.abc import Callable

import pytest
from google.cloud import storage

from embed_assets import DuckDBEmbeddingStore, EmbeddingPipeline
from embed_assets.backends.base import BackendError, JobRequest
from embed_assets.bigquery.client import bigquery_client
from embed_assets.cli.runner import PipelineRunError, run_pipeline
from embed_assets.models.regions import serves
from embed_assets.testing.emulator import VertexEmulator
from embed_assets.testing.fixtures import BigQueryTestSpace
from tests.helpers import VERTEX_MODEL, make_corpus, write_bigquery_table

pytestmark = pytest.mark.e2e


@pytest.fixture
def backend_kind() -> str:
    """Every pipeline in this file runs on the Vertex backend against the emulator."""
    return "vertex"


@pytest.mark.parametrize(
    ("region", "location", "expected"),
    [
        ("us-central1", "US-CENTRAL1", True),
        ("us-east4", "US", True),
        ("us-central1", "NAM4", True),
        ("europe-west4", "EU", True),
        ("us-central1", "EU", False),
        ("europe-west1", "europe-west4", False),
        ("asia-northeast1", "ASIA", True),
    ],
)
def test_a_job_region_serves_its_own_region_and_multi_region(region, location, expected) -> None:  # type: ignore[no-untyped-def]
    assert serves(region, location) is expected


def _uploaded() -> list[str]:
    return [blob.name for blob in storage.Client(project="p").list_blobs("embed-assets")]


def test_gemini_in_a_region_without_batch_is_refused_before_any_upload(
    make_vertex_emulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    emulator = make_vertex_emulator()
    pipeline, defs = build(
        corpus_file(make_corpus(5)),
        model="gemini-embedding-001",
        backend=emulator.vertex_backend(location="asia-northeast1"),
    )
    with pytest.raises(PipelineRunError, match=r"location='asia-northeast1': gemini-embedding"):
        run(pipeline, defs)
    assert _uploaded() == [] and emulator.calls["create"] == 0


def test_a_bucket_in_another_region_is_refused_naming_both(
    make_vertex_emulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    emulator = make_vertex_emulator(gcs_location="EU")
    pipeline, defs = build(corpus_file(make_corpus(5)), backend=emulator.vertex_backend())
    with pytest.raises(PipelineRunError) as raised:
        run(pipeline, defs)
    message = str(raised.value)
    assert "the bucket is in EU" in message and "location='us-central1'" in message
    assert "\n" not in message
    assert _uploaded() == [] and emulator.calls["create"] == 0


def test_a_bucket_in_the_jobs_multi_region_is_used(
    make_vertex_emulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    emulator = make_vertex_emulator(gcs_location="EU")
    pipeline, defs = build(
        corpus_file(make_corpus(6)), backend=emulator.vertex_backend(location="europe-west4")
    )
    assert run(pipeline, defs).embedded == 6


def test_the_emulator_refuses_a_job_whose_data_is_elsewhere_as_vertex_does(
    make_vertex_emulator,
) -> None:  # type: ignore[no-untyped-def]
    """Past the client's own check (it is skipped here), the service refuses the create."""
    emulator = make_vertex_emulator(gcs_location="EU")
    backend = emulator.vertex_backend()
    request = JobRequest(
        display_name="elsewhere",
        model=VERTEX_MODEL,
        input_uri="gs://embed-assets/x/requests-00000.jsonl",
        output_uri_prefix="gs://embed-assets/x/output",
        labels={"embed-assets-shard": "00000"},
        prompts=1,
    )
    with pytest.raises(BackendError, match="FAILED_PRECONDITION.*is in EU"):
        backend.submit(request)
    assert emulator.jobs() == []


def test_a_dataset_in_another_region_is_refused_naming_both(
    bigquery_emulator: BigQueryTestSpace,
    make_vertex_emulator: Callable[..., VertexEmulator],
    instance,  # type: ignore[no-untyped-def]
    workdir,  # type: ignore[no-untyped-def]
) -> None:
    from google.cloud import bigquery

    emulator = make_vertex_emulator(bigquery_url=bigquery_emulator.server.url)
    project = bigquery_emulator.project
    staging = bigquery.Dataset(f"{project}.{bigquery_emulator.dataset('staging')}")
    staging.location = "EU"
    with bigquery_client(project=project) as client:
        client.create_dataset(staging)
        raw = write_bigquery_table(
            f"{bigquery_emulator.dataset('raw')}.docs", make_corpus(5), project=project
        )
    pipeline = EmbeddingPipeline(name="docs", corpus=raw, model=VERTEX_MODEL)
    defs = pipeline.build_definitions(
        backend=emulator.vertex_backend(
            staging_uri=f"bq://{project}.{staging.dataset_id}", project=project
        ),
        store=DuckDBEmbeddingStore(path=str(workdir / "e.duckdb")),
    )
    with pytest.raises(PipelineRunError, match=r"the dataset is in EU.*location='us-central1'"):
        run_pipeline(defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.2)
    with bigquery_client(project=project) as client:
        assert list(client.list_tables(f"{project}.{staging.dataset_id}")) == []
    assert emulator.calls["create"] == 0
