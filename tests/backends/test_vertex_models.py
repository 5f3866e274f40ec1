"""Both request schemas on Vertex (emulated): Gemini end to end, dimensionality, refusals."""

import numpy as np
import pytest
from google.cloud import storage

from embed_assets.cli.runner import PipelineRunError
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


@pytest.mark.parametrize("model", ["text-embedding-005", "gemini-embedding-001"])
def test_output_dimensionality_256_gives_256_values(
    model, vertex_emulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    pipeline, defs = build(corpus_file(make_corpus(20)), model=model, output_dimensionality=256)
    summary = run(pipeline, defs)
    assert summary.embedded == 20 and all(summary.checks.values())
    vectors = np.stack(table(defs, pipeline)["embedding"].to_numpy())
    assert vectors.shape == (20, 256)
    job = vertex_emulator.jobs()[0]
    assert job["modelParameters"] == {"outputDimensionality": 256, "autoTruncate": True}
    assert job["labels"]["embed-assets-pipeline"] == "docs"


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
