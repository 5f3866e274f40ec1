"""Vertex batch jobs with BigQuery input and output (emulators, real google-genai and BigQuery).

Each job reads a prompts table and writes a prediction table in the staging dataset; the Vertex
emulator's workers read and write the BigQuery emulator on 127.0.0.1.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from embed_assets import BigQueryEmbeddingStore, DuckDBEmbeddingStore, EmbeddingPipeline
from embed_assets.bigquery.client import bigquery_client
from embed_assets.cli.runner import PipelineRunError, RunSummary, run_pipeline
from embed_assets.corpus.chunk_rows import chunk_documents
from embed_assets.corpus.chunking import Chunking
from embed_assets.testing import JobFault
from embed_assets.testing.emulator import VertexEmulator
from embed_assets.testing.fixtures import BigQueryTestSpace
from tests.helpers import (
    VERTEX_MODEL,
    assert_accounted,
    long_documents,
    make_corpus,
    module_documentation,
    write_bigquery_table,
)

pytestmark = pytest.mark.e2e  # the pipeline runs through the real sensor


@pytest.fixture
def bigquery_vertex(
    bigquery_emulator: BigQueryTestSpace, make_vertex_emulator: Callable[..., VertexEmulator]
) -> VertexEmulator:
    """A Vertex emulator whose jobs read and write the BigQuery emulator."""
    return make_vertex_emulator(bigquery_url=bigquery_emulator.server.url)


@pytest.fixture
def staging(bigquery_emulator: BigQueryTestSpace) -> str:
    """A staging dataset, `bq://project.dataset` (it exists, as the backend requires)."""
    dataset = bigquery_emulator.dataset("staging")
    with bigquery_client(project=bigquery_emulator.project) as client:
        client.create_dataset(f"{bigquery_emulator.project}.{dataset}")
    return f"bq://{bigquery_emulator.project}.{dataset}"


@pytest.fixture
def rows_stay_in_bigquery(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails a test whose prediction rows are read into the process (not landed with SQL)."""

    def not_here(*args: object, **kwargs: object) -> None:
        raise AssertionError("prediction rows were read into the process")

    monkeypatch.setattr(
        "embed_assets.placements.process.prediction_files.read_prediction_object", not_here
    )


def _tables(uri: str) -> list[str]:
    project, dataset = uri.removeprefix("bq://").split(".")
    with bigquery_client(project=project) as client:
        return sorted(t.table_id for t in client.list_tables(f"{project}.{dataset}"))


def _input_table(job: dict[str, Any]) -> str:
    """`project.dataset.table` of a job's prompts table."""
    return str(job["inputConfig"]["bigquerySource"]["inputUri"]).removeprefix("bq://")


def _rows(sql: str, project: str) -> list[dict[str, Any]]:
    with bigquery_client(project=project) as client:
        return [dict(row.items()) for row in client.query(sql).result()]


def test_jobs_read_prompt_tables_and_write_prediction_tables(
    bigquery_emulator: BigQueryTestSpace,
    bigquery_vertex: VertexEmulator,
    staging: str,
    rows_stay_in_bigquery: None,
    instance,  # type: ignore[no-untyped-def]
) -> None:
    """BigQuery corpus -> prompts tables -> prediction tables -> BigQuery embedding table.

    The prediction tables are landed in BigQuery with SQL: the Python reader is never used.
    """
    project, raw = bigquery_emulator.project, bigquery_emulator.dataset("raw")
    corpus = make_corpus(70)
    corpus["title"] = [f"title {i}" if i % 2 else None for i in range(70)]
    uri = write_bigquery_table(f"{raw}.docs", corpus, project=project)
    pipeline = EmbeddingPipeline(
        name="docs",
        corpus=uri,
        model=VERTEX_MODEL,
        title_column="title",
        max_prompts_per_job=40,  # two shards, two prompts tables
        keep_staging=True,  # the prompts tables are looked at below
    )
    store = BigQueryEmbeddingStore(project=project, dataset=bigquery_emulator.dataset("emb"))
    defs = pipeline.build_definitions(
        backend=bigquery_vertex.vertex_backend(staging_uri=staging, project=project), store=store
    )

    def run() -> RunSummary:
        return run_pipeline(defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.2)

    first = run()
    assert (first.prompts, first.jobs, first.embedded, first.failed) == (70, 2, 70, 0)
    # warehouse-native: the corpus was validated and hashed into a table, the manifest too
    staged = _tables(staging)
    assert "docs__corpus" in staged and any(t.endswith("__manifest") for t in staged)
    assert_accounted(first, corpus)
    table = store.read("docs").set_index("id")
    assert sorted(table.index) == sorted(corpus["id"])
    assert {len(v) for v in table["embedding"]} == {768}
    jobs = bigquery_vertex.jobs()
    assert {j["inputConfig"]["instancesFormat"] for j in jobs} == {"bigquery"}
    assert {j["outputConfig"]["predictionsFormat"] for j in jobs} == {"bigquery"}
    assert all(j["outputInfo"]["bigqueryOutputDataset"] == staging for j in jobs)
    prompts = _rows(f"SELECT * FROM `{_input_table(jobs[0])}`", project)
    assert set(prompts[0]) == {"content", "task_type", "title", "key"}
    submitted = [
        r["key"] for j in jobs for r in _rows(f"SELECT key FROM `{_input_table(j)}`", project)
    ]
    assert len(submitted) == len(set(submitted)) == 70  # every prompt paid for once

    corpus.loc[7, "content"] = "a completely new text about tea"
    write_bigquery_table(f"{raw}.docs", corpus.drop(index=[3]), project=project)
    second = run()
    assert (second.prompts, second.deleted) == (1, 1)  # one change, one deletion
    assert_accounted(second, corpus.drop(index=[3]))
    assert len(bigquery_vertex.jobs()) == 3
    new_job = max(bigquery_vertex.jobs(), key=lambda j: j["createTime"])
    assert [
        r["content"] for r in _rows(f"SELECT content FROM `{_input_table(new_job)}`", project)
    ] == ["a completely new text about tea"]
    assert "doc-0003" not in store.read("docs")["id"].tolist()

    write_bigquery_table(f"{raw}.docs", corpus.iloc[0:0], project=project)  # emptied by mistake
    with pytest.raises(PipelineRunError, match="no row that can be embedded.*allow_empty_corpus"):
        run()
    assert (
        len(store.read("docs")) == 69 and len(bigquery_vertex.jobs()) == 3
    )  # nothing lost or paid


def test_staging_tables_are_dropped_once_landed_but_the_manifest_stays(
    bigquery_vertex: VertexEmulator, staging: str, corpus_file, workdir, instance
) -> None:  # type: ignore[no-untyped-def]
    """A file corpus and a DuckDB table with BigQuery staging: any mix works."""
    corpus = make_corpus(30)
    pipeline = EmbeddingPipeline(name="docs", corpus=str(corpus_file(corpus)), model=VERTEX_MODEL)
    store = DuckDBEmbeddingStore(path=str(workdir / "e.duckdb"))
    defs = pipeline.build_definitions(
        backend=bigquery_vertex.vertex_backend(staging_uri=staging), store=store
    )
    summary = run_pipeline(defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.2)
    assert (summary.embedded, summary.failed) == (30, 0)
    assert sorted(store.read("docs")["id"]) == sorted(corpus["id"])
    left = _tables(staging)
    assert len(left) == 1 and left[0].endswith("__manifest")  # prompts and predictions dropped


def test_gemini_with_bigquery_staging_is_refused_before_anything_is_created(
    bigquery_vertex: VertexEmulator, staging: str, corpus_file, workdir, instance
) -> None:  # type: ignore[no-untyped-def]
    pipeline = EmbeddingPipeline(
        name="docs", corpus=str(corpus_file(make_corpus(5))), model="gemini-embedding-001"
    )
    defs = pipeline.build_definitions(
        backend=bigquery_vertex.vertex_backend(staging_uri=staging),
        store=DuckDBEmbeddingStore(path=str(workdir / "e.duckdb")),
    )
    with pytest.raises(PipelineRunError, match=r"staging_uri='bq://.*Cloud Storage only"):
        run_pipeline(defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.2)
    assert bigquery_vertex.calls["create"] == 0
    assert _tables(staging) == []


@dataclass
class Native:
    """Pipelines whose corpus (`raw.docs`), staging and table are all in BigQuery."""

    space: BigQueryTestSpace
    vertex: VertexEmulator
    staging: str
    instance: dg.DagsterInstance

    def write(self, corpus: pd.DataFrame) -> None:
        """Writes the corpus table."""
        raw = self.space.dataset("raw")
        write_bigquery_table(f"{raw}.docs", corpus, project=self.space.project)

    def build(
        self, *, bound_in_definitions: bool = False, **options: Any
    ) -> tuple[EmbeddingPipeline, dg.Definitions, BigQueryEmbeddingStore]:
        """A pipeline over the corpus table, its definitions and its table.

        The backend and store are passed to `build_definitions`, or bound once in
        `dg.Definitions(resources=...)` (`bound_in_definitions`).
        """
        project = self.space.project
        pipeline = EmbeddingPipeline(
            name="docs", corpus=f"bq://{project}.{self.space.dataset('raw')}.docs", **options
        )
        store = BigQueryEmbeddingStore(project=project, dataset=self.space.dataset("emb"))
        backend = self.vertex.vertex_backend(staging_uri=self.staging, project=project)
        if not bound_in_definitions:
            return pipeline, pipeline.build_definitions(backend=backend, store=store), store
        resources = {pipeline.names.backend_key: backend, pipeline.names.store_key: store}
        defs = dg.Definitions.merge(
            pipeline.build_definitions(), dg.Definitions(resources=resources)
        )
        return pipeline, defs, store

    def run(self, pipeline: EmbeddingPipeline, defs: dg.Definitions) -> RunSummary:
        """One refresh, to its landing."""
        return run_pipeline(defs=defs, pipeline=pipeline, instance=self.instance, poll_seconds=0.2)


@pytest.fixture
def native(
    bigquery_emulator: BigQueryTestSpace,
    bigquery_vertex: VertexEmulator,
    staging: str,
    instance: dg.DagsterInstance,
) -> Native:
    """The BigQuery and Vertex emulators, for warehouse-native pipelines."""
    return Native(bigquery_emulator, bigquery_vertex, staging, instance)


@pytest.fixture
def corpus_stays_in_bigquery(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails a test whose corpus rows are read into the process (not staged with SQL)."""

    def not_here(*args: object, **kwargs: object) -> None:
        raise AssertionError("corpus rows were read into the process")

    monkeypatch.setattr("embed_assets.pipeline.placement.prepare_into_instance", not_here)


@pytest.mark.parametrize("bound_in_definitions", [False, True])
def test_resources_passed_or_bound_in_definitions_both_keep_the_rows_in_bigquery(
    native: Native,
    bound_in_definitions: bool,
    rows_stay_in_bigquery: None,
    corpus_stays_in_bigquery: None,
) -> None:
    corpus = make_corpus(12)
    native.write(corpus)
    pipeline, defs, store = native.build(
        model=VERTEX_MODEL, bound_in_definitions=bound_in_definitions
    )
    summary = native.run(pipeline, defs)
    assert (summary.prompts, summary.embedded) == (12, 12)
    assert_accounted(summary, corpus)
    assert sorted(store.read("docs")["id"]) == sorted(corpus["id"])
    said = [
        str(record.user_message)
        for record in native.instance.all_logs(native.instance.get_runs()[-1].run_id)
    ]
    assert [line for line in said if line.startswith("rows stay in BigQuery (bq://")], said


def test_placement_warehouse_with_a_store_that_cannot_fails_in_one_line_naming_it(
    native: Native, tmp_path: Path
) -> None:
    native.write(make_corpus(5))
    project = native.space.project
    pipeline = EmbeddingPipeline(
        name="docs",
        corpus=f"bq://{project}.{native.space.dataset('raw')}.docs",
        model=VERTEX_MODEL,
        placement="warehouse",
    )
    defs = pipeline.build_definitions(
        backend=native.vertex.vertex_backend(staging_uri=native.staging, project=project),
        store=DuckDBEmbeddingStore(path=str(tmp_path / "e.duckdb")),
    )
    with pytest.raises(PipelineRunError) as refused:
        native.run(pipeline, defs)
    message = str(refused.value)
    assert "\n" not in message
    assert 'placement="warehouse", but the store (DuckDBEmbeddingStore) has no warehouse' in message
    assert native.vertex.calls["create"] == 0


def test_placement_process_reads_a_bigquery_pipeline_into_the_process(native: Native) -> None:
    corpus = make_corpus(6)
    native.write(corpus)
    pipeline, defs, store = native.build(model=VERTEX_MODEL, placement="process")
    summary = native.run(pipeline, defs)
    assert_accounted(summary, corpus)
    event = native.instance.get_latest_materialization_event(pipeline.corpus_key)
    assert event is not None and event.asset_materialization is not None
    assert str(event.asset_materialization.metadata["dagster/uri"].value).endswith(".parquet")


def test_warehouse_native_failed_and_rejected_rows_are_listed_then_only_failed_ones_retried(
    native: Native,
) -> None:
    """Every row is embedded, failed (with the row's status) or rejected (with its reason)."""
    corpus = make_corpus(30)
    corpus.loc[len(corpus)] = {"id": "blank", "content": "   "}
    corpus.loc[len(corpus)] = {"id": "doc-0001", "content": "the same id again"}
    native.write(corpus)
    pipeline, defs, store = native.build(
        model=VERTEX_MODEL, max_rejected_fraction=0.2, min_coverage=0.5
    )
    native.vertex.inject(JobFault(fail_every_nth_row=10))

    def run() -> RunSummary:
        return native.run(pipeline, defs)

    first = run()
    # doc-0001 twice: both rows rejected as a duplicate id; one blank text; 29 texts remain
    assert (first.prompts, first.failed, first.rejected, first.embedded) == (29, 2, 3, 27)
    assert_accounted(first, corpus)
    failures = store.failures("docs")
    assert len(failures) == 2 and set(failures["reason"]) == {"13: injected row failure"}
    assert not set(failures["id"]) & set(store.read("docs")["id"])  # listed, not in the table
    second = run()
    assert (second.prompts, second.failed, second.embedded) == (2, 0, 29)
    assert_accounted(second, corpus)
    assert store.failures("docs").empty


def test_warehouse_native_a_moved_text_keeps_its_vector_when_its_old_id_gets_a_new_text(
    native: Native, rows_stay_in_bigquery: None
) -> None:
    """The SQL landing copies the reused vector before the new text replaces its source row."""
    corpus = make_corpus(10)
    native.write(corpus)
    pipeline, defs, store = native.build(model=VERTEX_MODEL)
    native.run(pipeline, defs)
    before = store.read("docs").set_index("id")["content_hash"]
    moved = corpus.loc[3, "content"]
    corpus.loc[3, "content"] = "a completely new text about tea"
    corpus.loc[len(corpus)] = {"id": "moved", "content": moved}
    native.write(corpus)
    summary = native.run(pipeline, defs)
    assert (summary.prompts, summary.reused, summary.failed) == (1, 1, 0)
    assert_accounted(summary, corpus)
    after = store.read("docs").set_index("id")["content_hash"]
    assert after["moved"] == before["doc-0003"] and after["doc-0003"] != before["doc-0003"]
    assert len(after) == 11


def test_texts_the_model_cut_are_recorded_by_the_sql_landing(
    native: Native, rows_stay_in_bigquery: None
) -> None:
    """Prediction tables say `statistics.truncated`; SQL lands it with the vector and counts it."""
    corpus = make_corpus(6)
    corpus.loc[[1, 4], "content"] = long_documents(2, words=3000)  # more than 2,048 tokens
    native.write(corpus)
    pipeline, defs, store = native.build(model=VERTEX_MODEL)
    summary = native.run(pipeline, defs)
    assert (summary.embedded, summary.failed) == (6, 0)
    assert (summary.truncated, summary.warnings) == (2, ["not_truncated"])
    cut = store.read("docs").set_index("id")["truncated"]
    assert sorted(cut[cut].index) == ["doc-0001", "doc-0004"]


def test_warehouse_native_chunks_follow_edits_and_pay_only_what_changed(
    native: Native, rows_stay_in_bigquery: None
) -> None:
    """Chunked in BigQuery: the table's chunks are Python's chunks after every edit."""
    names = ["argparse", "json", "textwrap"]
    documents = pd.DataFrame(
        {"id": [*names, "note"], "content": [*map(module_documentation, names), "A short note."]}
    )
    chunking = Chunking(max_tokens=300)
    pipeline, defs, store = native.build(model=VERTEX_MODEL, chunking=chunking)

    def refresh() -> tuple[RunSummary, pd.DataFrame]:
        native.write(documents)
        summary = native.run(pipeline, defs)
        expected = chunk_documents(
            documents.assign(title=None), chunking=chunking, model=VERTEX_MODEL
        )
        places = ["id", "document_id", "chunk_index", "chunk_start", "chunk_end"]
        held = store.read("docs")[places].astype(str).sort_values("id").reset_index(drop=True)
        want = expected[places].astype(str).sort_values("id").reset_index(drop=True)
        pd.testing.assert_frame_equal(held, want)
        assert summary.failed == 0
        return summary, expected

    first, expected = refresh()
    assert first.embedded == len(expected) > 3 * len(documents)
    assert first.prompts == expected["content"].nunique()  # repeated chunks are paid once
    assert first.documents == len(documents)
    assert refresh()[0].prompts == 0  # nothing changed: nothing paid
    # two edits in one refresh: each document's new chunk texts are what its edit costs
    documents.loc[0, "content"] = (
        "A new first paragraph, written today.\n\n" + documents.loc[0, "content"]
    )
    documents.loc[1, "content"] = documents.loc[1, "content"].replace("JSON", "Json", 1)
    before = set(expected["content"])
    edited, expected = refresh()
    new = expected[~expected["content"].isin(before)]
    assert edited.prompts == new["content"].nunique()
    edits = {
        "argparse": "a paragraph inserted at the top",
        "json": "a word changed inside one paragraph",
    }
    paid = {edits[d]: n for d, n in new.groupby("document_id")["content"].nunique().items()}
    print(f"\nprompts paid per edit, chunked in BigQuery: {paid}")
    assert set(paid) == set(edits.values()) and all(n <= 3 for n in paid.values()), paid
    gone = int((expected["document_id"] == "textwrap").sum())
    documents = documents[documents["id"] != "textwrap"]
    last, _ = refresh()
    assert (last.prompts, last.deleted) == (0, gone)
