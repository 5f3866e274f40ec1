"""The whole pipeline with the corpus and the table in BigQuery (emulator, real client).

The local backend embeds; the batch jobs' BigQuery input and output are not covered here.
"""

import pytest

from embed_assets import BigQueryEmbeddingStore, EmbeddingPipeline, LocalBatchBackend
from embed_assets.cli.runner import PipelineRunError, run_pipeline
from embed_assets.testing.fixtures import BigQueryTestSpace
from tests.helpers import assert_accounted, make_corpus, write_bigquery_table

pytestmark = pytest.mark.e2e  # runs the pipeline through the real sensor


def test_a_bigquery_corpus_refreshes_a_bigquery_table_by_what_changed(
    bigquery_emulator: BigQueryTestSpace,
    tmp_path,
    instance,  # type: ignore[no-untyped-def]
) -> None:
    project, raw = bigquery_emulator.project, bigquery_emulator.dataset("raw")
    corpus = make_corpus(60)
    uri = write_bigquery_table(f"{raw}.docs", corpus, project=project)
    pipeline = EmbeddingPipeline(name="docs", corpus=uri, model="lexical-hash")
    store = BigQueryEmbeddingStore(project=project, dataset=bigquery_emulator.dataset("emb"))
    defs = pipeline.build_definitions(backend=LocalBatchBackend(workdir=str(tmp_path)), store=store)

    def run():  # type: ignore[no-untyped-def]
        return run_pipeline(defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.2)

    first = run()
    assert (first.prompts, first.embedded, first.failed) == (60, 60, 0)
    assert sorted(store.read("docs")["id"]) == sorted(corpus["id"])

    corpus.loc[7, "content"] = "a completely new text about tea"
    write_bigquery_table(f"{raw}.docs", corpus.drop(index=[3]), project=project)
    second = run()
    assert (second.prompts, second.deleted) == (1, 1)  # one change, one deletion
    assert_accounted(second, corpus.drop(index=[3]))
    table = store.read("docs").set_index("id")
    assert "doc-0003" not in table.index and len(table) == 59

    write_bigquery_table(f"{raw}.docs", corpus.iloc[0:0], project=project)  # emptied by mistake
    with pytest.raises(PipelineRunError, match="no row that can be embedded.*allow_empty_corpus"):
        run()
    assert len(store.read("docs")) == 59  # nothing deleted
