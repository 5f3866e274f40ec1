"""Every button a user presses in the UI works: Materialize all, Materialize on embeddings."""

import time
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from embed_assets.store.base import embedding_rows
from embed_assets.testing import FaultyLocalBatchBackend
from tests.helpers import make_corpus, materialize_submission, table, tick_until_requested

pytestmark = pytest.mark.e2e  # each test runs the whole pipeline


def _with_downstream(defs: dg.Definitions, pipeline) -> dg.Definitions:  # type: ignore[no-untyped-def]
    @dg.asset(key=["downstream"], deps=[pipeline.embeddings_key])
    def downstream() -> None:
        return None

    return dg.Definitions.merge(defs, dg.Definitions(assets=[downstream]))


def _steps(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    return {
        str(event.step_key): event.event_type_value
        for event in result.all_events
        if event.is_step_success or event.is_step_skipped or event.is_step_failure
    }


def _land_with_the_sensor(defs, pipeline, instance, raise_on_error=True):  # type: ignore[no-untyped-def]
    tick, _ = tick_until_requested(defs, pipeline, instance)
    request = tick.run_requests[0]
    selection = dg.AssetSelection.assets(pipeline.embeddings_key).downstream()
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=list(selection.resolve(defs.resolve_asset_graph())),
        tags=request.tags,
        raise_on_error=raise_on_error,
    )


def test_materialize_all_is_green_while_jobs_run_and_the_sensor_lands_them(
    instance: dg.DagsterInstance, corpus_file, build, workdir: Path
) -> None:  # type: ignore[no-untyped-def]
    """Observed: 'Materialize all' always failed with 'submission … has unfinished jobs'."""
    corpus = make_corpus(60)
    backend = FaultyLocalBatchBackend(workdir=str(workdir), seconds_per_chunk=3)
    pipeline, defs = build(corpus_file(corpus), backend=backend)
    defs = _with_downstream(defs, pipeline)
    everything = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, raise_on_error=False
    )
    assert everything.success
    steps = _steps(everything)
    assert steps[pipeline.embeddings_key.to_python_identifier()] == "STEP_SUCCESS"
    assert steps["downstream"] == "STEP_SKIPPED"
    assert instance.get_latest_materialization_event(pipeline.embeddings_key) is None
    landed = _land_with_the_sensor(defs, pipeline, instance)
    assert landed.success and _steps(landed)["downstream"] == "STEP_SUCCESS"
    assert sorted(table(defs, pipeline)["id"]) == sorted(corpus["id"])


def test_materialize_on_embeddings_with_nothing_pending_is_a_quick_no_op(
    instance: dg.DagsterInstance, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    """Observed: after a refresh that changed nothing, Materialize on embeddings failed with
    FileNotFoundError: …/manifest.parquet."""
    pipeline, defs = build(corpus_file(make_corpus(20)))
    job = defs.resolve_implicit_global_asset_job_def()
    alone = job.execute_in_process(instance=instance, asset_selection=[pipeline.embeddings_key])
    assert alone.success  # no submission at all yet
    run(pipeline, defs)
    materialize_submission(defs, pipeline, instance)  # changes nothing: no jobs, no manifest
    before = instance.get_latest_materialization_event(pipeline.embeddings_key)
    started = time.monotonic()
    again = job.execute_in_process(instance=instance, asset_selection=[pipeline.embeddings_key])
    assert again.success and time.monotonic() - started < 10
    after = instance.get_latest_materialization_event(pipeline.embeddings_key)
    assert before is not None and after is not None and after.run_id == before.run_id


def test_a_wrong_vector_in_the_table_blocks_the_assets_downstream(
    instance: dg.DagsterInstance, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    """dimension is a blocking check: a bad table never reaches downstream assets."""
    corpus = make_corpus(20)
    path = corpus_file(corpus)
    pipeline, defs = build(path)
    run(pipeline, defs)
    store = defs.resources[pipeline.names.store_key]
    kept = table(defs, pipeline).iloc[-1]
    store.upsert(  # a vector someone rewrote by hand, of the wrong length
        pipeline.name,
        embedding_rows(
            ids=[kept["id"]],
            content_hashes=[kept["content_hash"]],
            vectors=np.ones((1, 3), dtype=np.float32),
            token_counts=[1],
            model="lexical-hash",
        ),
    )
    corpus.loc[0, "content"] = "a changed text"
    corpus_file(corpus)
    defs = _with_downstream(defs, pipeline)
    materialize_submission(defs, pipeline, instance)
    result = _land_with_the_sensor(defs, pipeline, instance, raise_on_error=False)
    assert not result.success
    failed = {e.check_name: e for e in result.get_asset_check_evaluations() if not e.passed}
    assert set(failed) == {"dimension"}
    assert "1 vector is not 256 long" in (failed["dimension"].description or "")
    assert "downstream" not in {k for k, v in _steps(result).items() if v == "STEP_SUCCESS"}


def test_executing_the_checks_alone_evaluates_the_latest_landing(
    instance: dg.DagsterInstance, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    """The 'Execute checks' button: the checks re-evaluate the latest landing, no failure."""
    pipeline, defs = build(corpus_file(make_corpus(10)))
    run(pipeline, defs)
    checks = [dg.AssetCheckKey(pipeline.embeddings_key, name) for name in ("dimension", "coverage")]
    job = dg.define_asset_job("checks_only", selection=dg.AssetSelection.checks(*checks))
    result = (
        dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
        .resolve_job_def("checks_only")
        .execute_in_process(instance=instance)
    )
    assert result.success
    evaluated = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluated == {"dimension": True, "coverage": True}  # the two selected, no others


def test_a_materialize_all_that_changes_nothing_shows_every_check_of_the_table(
    instance: dg.DagsterInstance, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    """Observed: after a no-op 'Materialize all' the five checks read 'Skipped' (0 / 5)."""
    pipeline, defs = build(corpus_file(make_corpus(20)))
    run(pipeline, defs)
    landed = instance.get_latest_materialization_event(pipeline.embeddings_key)
    everything = defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance)
    assert everything.success
    evaluated = {e.check_name: e.passed for e in everything.get_asset_check_evaluations()}
    names = {"coverage", "dimension", "finite_values", "rows_accounted", "not_truncated"}
    assert evaluated == dict.fromkeys(names, True) | {"rejected_rows": True}
    # the table did not change: no new materialization, the checks are of the same landing
    latest = instance.get_latest_materialization_event(pipeline.embeddings_key)
    assert landed is not None and latest is not None and latest.run_id == landed.run_id
    for name in names:
        check = dg.AssetCheckKey(pipeline.embeddings_key, name)
        records = instance.event_log_storage.get_asset_check_execution_history(check, limit=1)
        assert records[0].run_id == everything.run_id and records[0].status.value == "SUCCEEDED"
