"""Both request schemas on Vertex (emulated): Gemini end to end, dimensionality, refusals."""

import numpy as np
import orjson
import pytest
from google.cloud import storage

from embed_assets import BatchPrice, ModelSpec
from embed_assets.cli.runner import PipelineRunError
from embed_assets.jobs.record import pipeline_label
from tests.helpers import assert_accounted, make_corpus, table

pytestmark = pytest.mark.e2e  # each test runs the whole pipeline


@pytest.fixture
def backend_kind() -> str:
    """Every pipeline in this file runs on the Vertex backend against the emulator."""
    return "vertex"


def test_a_gemini_pipeline_joins_results_by_key(vertex_emulator, corpus_file, build, run) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(60)
    corpus["title"] = [f"title {i}" for i in range(60)]
    pipeline, defs = build(
        corpus_file(corpus),
        model="gemini-embedding-001",
        title_column="title",
        keep_staging=True,  # the request file is looked at below
    )
    summary = run(pipeline, defs)
    assert (summary.embedded, summary.failed, summary.jobs) == (60, 0, 1)
    assert_accounted(summary, corpus)
    landed = table(defs, pipeline)
    assert {len(v) for v in landed["embedding"]} == {3072}
    request_files = [
        b for b in storage.Client(project="p").list_blobs("embed-assets") if "requests-" in b.name
    ]
    first = request_files[0].download_as_bytes().splitlines()[0]
    assert b'"key"' in first and b'"embed_content_config"' in first  # the Gemini request shape
    corpus.loc[3, "content"] = "a changed text"
    corpus_file(corpus)
    assert run(pipeline, defs).written == 1


def test_a_legacy_job_carries_its_options_as_model_parameters(
    vertex_emulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    pipeline, defs = build(
        corpus_file(make_corpus(20)), model="text-embedding-005", output_dimensionality=256
    )
    summary = run(pipeline, defs)
    assert summary.embedded == 20 and all(summary.checks.values())
    vectors = np.stack(table(defs, pipeline)["embedding"].to_numpy())
    assert vectors.shape == (20, 256)
    job = vertex_emulator.jobs()[0]
    assert job["modelParameters"] == {"outputDimensionality": 256, "autoTruncate": True}
    assert job["labels"]["embed-assets-pipeline"] == pipeline_label("docs")


def _first_request_line(pipeline_name: str) -> dict:  # type: ignore[type-arg]
    blobs = storage.Client(project="p").list_blobs("embed-assets", prefix="embed-assets/")
    request = next(b for b in blobs if "requests-" in b.name)
    return orjson.loads(request.download_as_bytes().splitlines()[0])


def test_a_gemini_job_carries_its_options_in_each_line_and_no_model_parameters(
    vertex_emulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    """Vertex reads Gemini embedding options from each line's embed_content_config; the
    emulator reads them only there, so options sent as modelParameters would be ignored and
    the vectors would come back 3,072 long."""
    pipeline, defs = build(
        corpus_file(make_corpus(20)),
        model="gemini-embedding-001",
        output_dimensionality=256,
        keep_staging=True,
    )
    summary = run(pipeline, defs)
    assert summary.embedded == 20 and all(summary.checks.values())
    vectors = np.stack(table(defs, pipeline)["embedding"].to_numpy())
    assert vectors.shape == (20, 256)
    job = vertex_emulator.jobs()[0]
    assert "modelParameters" not in job or not job["modelParameters"]
    config = _first_request_line(pipeline.name)["request"]["embed_content_config"]
    assert config["output_dimensionality"] == 256 and config["auto_truncate"] is True
    assert summary.shortened_vectors == 0


def test_a_gemini_job_without_auto_truncate_fails_a_long_row_as_vertex_does(
    vertex_emulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    """`auto_truncate=False` only reaches a Gemini job inside its lines: a text over the
    input limit fails its row there, instead of being cut silently."""
    corpus = make_corpus(5)
    corpus.loc[0, "content"] = "word " * 3000  # over 2,048 tokens
    pipeline, defs = build(corpus_file(corpus), model="gemini-embedding-001", auto_truncate=False)
    summary = run(pipeline, defs)
    assert (summary.embedded, summary.failed) == (4, 1)
    assert "autoTruncate is false" in summary.failed_examples
    assert_accounted(summary, corpus)


@pytest.mark.parametrize(
    ("model", "location", "words"),
    [("gemini-embedding-001", "us-central1", 3000), ("gemini-embedding-2", "global", 9000)],
)
def test_a_gemini_job_reports_the_texts_it_cut_and_the_check_warns(
    vertex_emulator, corpus_file, build, run, model: str, location: str, words: int
) -> None:  # type: ignore[no-untyped-def]
    """`truncated` is at the top of an EmbedContentResponse, where it is read and counted."""
    corpus = make_corpus(5)
    corpus.loc[0, "content"] = "word " * words  # over the model's input limit
    backend = vertex_emulator.vertex_backend(location=location)
    pipeline, defs = build(corpus_file(corpus), model=model, backend=backend)
    summary = run(pipeline, defs)
    assert (summary.embedded, summary.truncated) == (5, 1)
    assert not summary.checks["not_truncated"] and "not_truncated" in summary.warnings
    assert table(defs, pipeline).set_index("id")["truncated"].to_dict() == {
        doc: doc == "doc-0000" for doc in corpus["id"]
    }


def test_a_local_model_or_a_bad_staging_uri_is_refused_before_any_upload(
    vertex_emulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    path = corpus_file(make_corpus(5))
    pipeline, defs = build(path, model="lexical-hash")
    with pytest.raises(PipelineRunError, match="model='lexical-hash' is a local model"):
        run(pipeline, defs)
    pipeline, defs = build(path, backend=vertex_emulator.vertex_backend(staging_uri="/tmp/x"))
    with pytest.raises(PipelineRunError, match="staging_uri='/tmp/x'"):
        run(pipeline, defs)
    assert list(storage.Client(project="p").list_blobs("embed-assets")) == []
    assert vertex_emulator.calls["create"] == 0


def test_a_model_the_library_does_not_list_is_declared_and_runs_end_to_end(
    vertex_emulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    spec = ModelSpec(
        name="text-embedding-declared-9",
        schema="legacy",
        dimension=512,
        price=BatchPrice(per_million_characters=0.02),
    )
    pipeline, defs = build(corpus_file(make_corpus(6)), model=spec)
    summary = run(pipeline, defs)
    assert summary.embedded == 6 and summary.failed == 0
    assert {len(vector) for vector in table(defs, pipeline)["embedding"]} == {512}
    (job,) = vertex_emulator.jobs()
    assert job["model"].endswith("/text-embedding-declared-9")
