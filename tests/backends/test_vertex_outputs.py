"""What jobs write, as the service writes it: errors files and tables, output without
`outputInfo`, paused jobs, and vectors longer than asked for (real clients, emulators)."""

from collections.abc import Callable

import numpy as np
import pytest

from embed_assets import BigQueryEmbeddingStore, DuckDBEmbeddingStore, EmbeddingPipeline
from embed_assets.bigquery.client import bigquery_client
from embed_assets.cli.runner import RunSummary, run_pipeline
from embed_assets.testing import JobFault
from embed_assets.testing.emulator import VertexEmulator
from embed_assets.testing.fixtures import BigQueryTestSpace
from tests.helpers import (
    VERTEX_MODEL,
    assert_accounted,
    make_corpus,
    table,
    write_bigquery_table,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def backend_kind() -> str:
    """Every pipeline in this file runs on the Vertex backend against the emulator."""
    return "vertex"


def test_failed_rows_keep_their_reasons_from_errors_files(
    vertex_emulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(20)
    pipeline, defs = build(corpus_file(corpus))
    vertex_emulator.inject(JobFault(fail_every_nth_row=5, errors_apart=True))
    summary = run(pipeline, defs)
    assert (summary.embedded, summary.failed) == (16, 4)
    assert "13: injected row failure" in summary.failed_examples
    assert "no prediction was returned" not in summary.failed_examples
    assert_accounted(summary, corpus)
    again = run(pipeline, defs)
    assert (again.prompts, again.embedded, again.failed) == (4, 20, 0)


@pytest.mark.parametrize("store_kind", ["bigquery", "duckdb"])
def test_failed_rows_keep_their_reasons_from_the_errors_table(
    store_kind: str,
    bigquery_emulator: BigQueryTestSpace,
    make_vertex_emulator: Callable[..., VertexEmulator],
    instance,  # type: ignore[no-untyped-def]
    workdir,  # type: ignore[no-untyped-def]
) -> None:
    """Landed in SQL (warehouse-native) or read into this process: the same reasons."""
    emulator = make_vertex_emulator(bigquery_url=bigquery_emulator.server.url)
    project = bigquery_emulator.project
    staging = bigquery_emulator.dataset("staging")
    with bigquery_client(project=project) as client:
        client.create_dataset(f"{project}.{staging}")
    corpus = make_corpus(20)
    uri = write_bigquery_table(f"{bigquery_emulator.dataset('raw')}.docs", corpus, project=project)
    store = (
        BigQueryEmbeddingStore(project=project, dataset=bigquery_emulator.dataset("emb"))
        if store_kind == "bigquery"
        else DuckDBEmbeddingStore(path=str(workdir / "e.duckdb"))
    )
    pipeline = EmbeddingPipeline(name="docs", corpus=uri, model=VERTEX_MODEL, min_coverage=0.5)
    defs = pipeline.build_definitions(
        backend=emulator.vertex_backend(staging_uri=f"bq://{project}.{staging}", project=project),
        store=store,
    )
    emulator.inject(JobFault(fail_every_nth_row=5, errors_apart=True))

    def go() -> RunSummary:
        return run_pipeline(defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.2)

    first = go()
    assert (first.embedded, first.failed) == (16, 4)
    assert_accounted(first, corpus)
    assert set(store.failures("docs")["reason"]) == {"13: injected row failure"}
    assert go().prompts == 4


def test_a_cancelled_job_without_output_info_still_lands_the_rows_it_wrote(
    vertex_emulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(20)
    pipeline, defs = build(corpus_file(corpus))
    vertex_emulator.inject(JobFault(final_state="CANCELLED", partial_output=True))
    summary = run(pipeline, defs)
    assert "outputInfo" not in vertex_emulator.jobs()[0]
    assert (summary.embedded, summary.failed) == (10, 10)  # the paid half is kept
    assert "ended CANCELLED" in summary.failed_examples
    assert_accounted(summary, corpus)
    again = run(pipeline, defs)
    assert (again.prompts, again.embedded) == (10, 20)  # only the unpaid half again


def test_vectors_longer_than_asked_for_are_cut_renormalized_and_counted(
    vertex_emulator, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(20)
    pipeline, defs = build(
        corpus_file(corpus), model="gemini-embedding-001", output_dimensionality=768
    )
    vertex_emulator.inject(JobFault(full_length_vectors=True))
    summary = run(pipeline, defs)
    assert (summary.embedded, summary.failed, summary.shortened_vectors) == (20, 0, 20)
    assert all(summary.checks.values())
    vectors = np.stack(table(defs, pipeline)["embedding"].to_numpy())
    assert vectors.shape == (20, 768)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
