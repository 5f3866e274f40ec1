"""Automation: a changed corpus file or a refreshed upstream asset requests a refresh."""

import datetime
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

import embed_assets.pipeline.automation as source_observation
from embed_assets import DuckDBEmbeddingStore, EmbeddingPipeline, LocalBatchBackend
from embed_assets.cli.runner import run_pipeline
from embed_assets.pipeline.automation import latest_source_version, source_sensor_cursor
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


def _file_pipeline(tmp_path: Path) -> tuple[Path, EmbeddingPipeline, dg.Definitions]:
    """A pipeline of a 10-row CSV corpus file, with its definitions."""
    path = tmp_path / "docs.csv"
    make_corpus(10).to_csv(path, index=False)
    pipeline = EmbeddingPipeline(name="docs", corpus=str(path), model="lexical-hash")
    defs = pipeline.build_definitions(
        backend=LocalBatchBackend(workdir=str(tmp_path)),
        store=DuckDBEmbeddingStore(path=str(tmp_path / "e.duckdb")),
    )
    return path, pipeline, defs


def _looked_just_now() -> str:
    """A sensor cursor of a look at this moment, clear of the every-minute tick."""
    if (second := datetime.datetime.now(datetime.UTC).second) >= 50:
        time.sleep(61 - second)
    return source_sensor_cursor(datetime.datetime.now(datetime.UTC))


def _observe(
    defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None
) -> tuple[list[dg.AssetObservation], str | None, str | None]:
    """One tick of the source sensor; its observations are recorded as the daemon does."""
    sensor = defs.resolve_sensor_def("docs_source_sensor")
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    result = sensor(context)
    if isinstance(result, dg.SkipReason):
        return [], cursor, result.skip_message
    events = [e for e in result.asset_events if isinstance(e, dg.AssetObservation)]
    for event in events:
        instance.report_runless_asset_event(event)
    return events, result.cursor, result.skip_reason.skip_message if result.skip_reason else None


def test_an_edited_corpus_file_is_observed_with_no_run_and_refreshes_corpus_and_batch_job(
    tmp_path: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_observation, "SETTLE_SECONDS", 0)  # (its own test below)
    path, pipeline, defs = _file_pipeline(tmp_path)
    start = datetime.datetime(2026, 11, 22, 12, 0, 5)
    events, cursor, skipped = _observe(defs, instance, None)
    assert events == [] and skipped and "next tick" in skipped
    keys, automation = _requested(defs, instance, None, start)  # its first evaluation
    assert keys == set()
    events, cursor, _ = _observe(defs, instance, cursor)  # a first look: a first version
    assert [e.asset_key for e in events] == [pipeline.source_key]
    keys, automation = _requested(
        defs, instance, automation, start + datetime.timedelta(seconds=30)
    )
    assert keys == {"docs/corpus", "docs/embedding_batch_job"}
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.execute_in_process(
        instance=instance, asset_selection=[pipeline.corpus_key, pipeline.batch_job_key]
    ).success
    keys, automation = _requested(defs, instance, automation, start + datetime.timedelta(minutes=1))
    assert keys == set()

    # the schedule has not ticked since the last look: the source is not read
    events, cursor, skipped = _observe(defs, instance, _looked_just_now())
    assert events == [] and skipped and "next look" in skipped
    # it has, and nothing changed: no event at all
    a_minute_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=2)
    events, cursor, skipped = _observe(defs, instance, source_sensor_cursor(a_minute_ago))
    assert events == [] and skipped and "unchanged" in skipped

    make_corpus(11).to_csv(path, index=False)  # the user edits the file
    events, cursor, _ = _observe(defs, instance, source_sensor_cursor(a_minute_ago))
    assert [e.asset_key for e in events] == [pipeline.source_key]
    keys, automation = _requested(defs, instance, automation, start + datetime.timedelta(minutes=2))
    assert keys == {"docs/corpus", "docs/embedding_batch_job"}
    # the observations launched no run: the one run is the explicit one above
    assert len(instance.get_runs()) == 1
    observed = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=pipeline.source_key), limit=10
    ).records
    assert len(observed) == 2  # the first look and the edit


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


def _input_version(instance: dg.DagsterInstance, pipeline: EmbeddingPipeline) -> str:
    """The source version the latest corpus materialization names as its input's."""
    corpus = instance.get_latest_materialization_event(pipeline.corpus_key)
    assert corpus is not None and corpus.asset_materialization is not None
    assert pipeline.source_key is not None
    tag = f"dagster/input_data_version/{pipeline.source_key.to_user_string()}"
    return corpus.asset_materialization.tags[tag]


def test_an_edit_a_manual_run_read_first_is_refreshed_once_and_leaves_corpus_in_sync(
    tmp_path: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Observed: an edit, then 'Materialize all' within the minute: 'Unsynced' for good."""
    monkeypatch.setattr(source_observation, "SETTLE_SECONDS", 600)  # a slow machine stays within
    path, pipeline, defs = _file_pipeline(tmp_path)
    start = datetime.datetime(2026, 11, 22, 12, 0, 5)
    _, cursor, _ = _observe(defs, instance, None)
    _, automation = _requested(defs, instance, None, start)
    _observe(defs, instance, cursor)
    job = defs.resolve_implicit_global_asset_job_def()
    selection = [pipeline.corpus_key, pipeline.batch_job_key]
    assert job.execute_in_process(instance=instance, asset_selection=selection).success
    _, automation = _requested(defs, instance, automation, start + datetime.timedelta(minutes=1))
    before = latest_source_version(instance, pipeline.source_key)  # type: ignore[arg-type]

    make_corpus(12).to_csv(path, index=False)  # edited, then Materialize all at once
    a_while_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=2)
    running = instance.create_run_for_job(
        job_def=job,
        asset_selection=frozenset(selection),
        status=dg.DagsterRunStatus.STARTED,
    )
    events, _, skipped = _observe(defs, instance, source_sensor_cursor(a_while_ago))
    assert events == [] and skipped and running.run_id in skipped  # waits for the run
    instance.report_run_failed(running)  # (it stands for the run below)
    assert job.execute_in_process(instance=instance, asset_selection=selection).success
    assert _input_version(instance, pipeline) == before  # what Dagster read at its start
    events, _, skipped = _observe(defs, instance, source_sensor_cursor(a_while_ago))
    assert events == [] and skipped and "once the automation has seen" in skipped
    # the automation's tick within the settling time, then the change is recorded
    keys, automation = _requested(defs, instance, automation, start + datetime.timedelta(minutes=2))
    assert keys == set()
    monkeypatch.setattr(source_observation, "SETTLE_SECONDS", 0)  # the settling time has passed
    events, _, _ = _observe(defs, instance, source_sensor_cursor(a_while_ago))
    assert len(events) == 1  # recorded after the run: a change the automation acts on
    keys, automation = _requested(defs, instance, automation, start + datetime.timedelta(minutes=3))
    assert keys == {"docs/corpus", "docs/embedding_batch_job"}
    assert job.execute_in_process(instance=instance, asset_selection=selection).success
    assert _input_version(instance, pipeline) == latest_source_version(
        instance,
        pipeline.source_key,  # type: ignore[arg-type]
    )  # in sync
    events, _, skipped = _observe(defs, instance, source_sensor_cursor(a_while_ago))
    assert events == [] and skipped and "unchanged" in skipped
    keys, _ = _requested(defs, instance, automation, start + datetime.timedelta(minutes=4))
    assert keys == set()  # nothing left to refresh


def test_a_headless_run_records_the_version_it_read_so_the_ui_finds_nothing_to_redo(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """Observed: right after `dagster dev` started, corpus and batch job re-ran for nothing."""
    _, pipeline, defs = _file_pipeline(tmp_path)
    run_pipeline(defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.2)
    recorded = latest_source_version(instance, pipeline.source_key)  # type: ignore[arg-type]
    assert recorded is not None and _input_version(instance, pipeline) == recorded
    _, cursor, _ = _observe(defs, instance, None)  # `dagster dev` starts on the same instance
    events, _, skipped = _observe(defs, instance, cursor)
    assert events == [] and skipped and "unchanged" in skipped
