"""Automation: a changed corpus file or a refreshed upstream asset requests a refresh."""

import datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from embed_assets import DuckDBEmbeddingStore, EmbeddingPipeline, LocalBatchBackend
from embed_assets.cli.runner import run_pipeline
from tests.helpers import make_corpus

pytestmark = pytest.mark.e2e  # materializes and observes real assets


def _requested(defs: dg.Definitions, instance: dg.DagsterInstance, cursor, when):  # type: ignore[no-untyped-def]
    result = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=cursor, evaluation_time=when
    )
    keys = {
        key.to_user_string()
        for key in (*defs.resolve_asset_graph().get_all_asset_keys(),)
        if result.get_num_requested(key)
    }
    return keys, result.cursor


def test_an_edited_corpus_file_is_observed_and_refreshes_corpus_and_batch_job(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    path = tmp_path / "docs.csv"
    make_corpus(10).to_csv(path, index=False)
    pipeline = EmbeddingPipeline(name="docs", corpus=str(path), model="lexical-hash")
    defs = pipeline.build_definitions(
        backend=LocalBatchBackend(workdir=str(tmp_path)),
        store=DuckDBEmbeddingStore(path=str(tmp_path / "e.duckdb")),
    )
    start = datetime.datetime(2026, 11, 22, 12, 0, 5)
    keys, cursor = _requested(defs, instance, None, start)
    assert keys == {"docs/source"}  # observed as soon as the code location loads
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.execute_in_process(instance=instance, asset_selection=[pipeline.source_key]).success
    assert job.execute_in_process(
        instance=instance, asset_selection=[pipeline.corpus_key, pipeline.batch_job_key]
    ).success
    keys, cursor = _requested(defs, instance, cursor, start + datetime.timedelta(seconds=20))
    assert keys == set()  # nothing changed, nothing requested

    make_corpus(11).to_csv(path, index=False)  # the user edits the file
    keys, cursor = _requested(defs, instance, cursor, start + datetime.timedelta(minutes=1))
    assert keys == {"docs/source"}  # the next cron tick observes it
    assert job.execute_in_process(instance=instance, asset_selection=[pipeline.source_key]).success
    keys, cursor = _requested(
        defs, instance, cursor, start + datetime.timedelta(minutes=1, seconds=30)
    )
    assert keys == {"docs/corpus", "docs/embedding_batch_job"}


def test_a_corpus_asset_upstream_refreshes_the_pipeline_when_it_materializes(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    @dg.asset(key="raw_docs")
    def raw_docs() -> pd.DataFrame:
        return make_corpus(5)

    pipeline = EmbeddingPipeline(name="docs", corpus=dg.AssetKey("raw_docs"), model="lexical-hash")
    defs = dg.Definitions.merge(
        pipeline.build_definitions(
            backend=LocalBatchBackend(workdir=str(tmp_path)),
            store=DuckDBEmbeddingStore(path=str(tmp_path / "e.duckdb")),
        ),
        dg.Definitions(assets=[raw_docs]),
    )
    job = defs.resolve_implicit_global_asset_job_def()
    keys = [dg.AssetKey("raw_docs"), pipeline.corpus_key, pipeline.batch_job_key]
    assert job.execute_in_process(instance=instance, asset_selection=keys).success
    now = datetime.datetime(2026, 11, 22, 12, 0, 5)
    requested, cursor = _requested(defs, instance, None, now)
    assert requested == set()
    assert job.execute_in_process(instance=instance, asset_selection=keys[:1]).success
    requested, _ = _requested(defs, instance, cursor, now + datetime.timedelta(seconds=30))
    assert requested == {"docs/corpus", "docs/embedding_batch_job"}


def test_an_upstream_asset_that_gives_a_file_s_path_is_embedded_from_the_file(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """For a large corpus the upstream gives a path: the file is read a batch at a time."""
    path = tmp_path / "docs.jsonl"
    corpus = make_corpus(12)
    corpus.to_json(path, orient="records", lines=True)

    @dg.asset(key="raw_docs")
    def raw_docs() -> str:
        return str(path)

    pipeline = EmbeddingPipeline(name="docs", corpus=dg.AssetKey("raw_docs"), model="lexical-hash")
    store = DuckDBEmbeddingStore(path=str(tmp_path / "e.duckdb"))
    defs = dg.Definitions.merge(
        pipeline.build_definitions(backend=LocalBatchBackend(workdir=str(tmp_path)), store=store),
        dg.Definitions(assets=[raw_docs]),
    )
    job = defs.resolve_implicit_global_asset_job_def()
    keys = [dg.AssetKey("raw_docs"), pipeline.corpus_key]
    assert job.execute_in_process(instance=instance, asset_selection=keys).success
    summary = run_pipeline(defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.2)
    assert summary.failed == 0 and summary.prompts == len(corpus)
    assert sorted(store.read("docs")["id"]) == sorted(corpus["id"])
