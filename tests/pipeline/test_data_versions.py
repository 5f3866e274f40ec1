"""Data versions: a refresh that changes nothing leaves everything downstream synced."""

import time

import dagster as dg
import pytest

from embed_assets.pipeline.history import latest_submission
from tests.helpers import make_corpus, materialize_submission

pytestmark = pytest.mark.e2e  # each test runs the whole pipeline

VERSION = "dagster/data_version"


def _tags(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, str]:
    event = instance.get_latest_materialization_event(key)
    assert event is not None and event.asset_materialization is not None
    return dict(event.asset_materialization.tags or {})


def _synced(instance: dg.DagsterInstance, pipeline) -> bool:  # type: ignore[no-untyped-def]
    """The embeddings' recorded input version equals the batch job's current version."""
    seen = _tags(instance, pipeline.embeddings_key)
    input_tag = f"dagster/input_data_version/{pipeline.batch_job_key.to_user_string()}"
    return seen[input_tag] == _tags(instance, pipeline.batch_job_key)[VERSION]


def test_versions_follow_what_changed(instance, corpus_file, build, run) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(30)
    pipeline, defs = build(corpus_file(corpus))
    run(pipeline, defs)
    corpus_version = _tags(instance, pipeline.corpus_key)[VERSION]
    job_version = _tags(instance, pipeline.batch_job_key)[VERSION]
    assert _synced(instance, pipeline)

    corpus_file(corpus.iloc[::-1])  # the same rows in another order: nothing changed
    materialize_submission(defs, pipeline, instance)
    assert _tags(instance, pipeline.corpus_key)[VERSION] == corpus_version
    assert _tags(instance, pipeline.batch_job_key)[VERSION] == job_version
    assert _synced(instance, pipeline)  # embeddings is not stale

    corpus.loc[3, "content"] = "a changed text"
    corpus_file(corpus)
    materialize_submission(defs, pipeline, instance)
    assert _tags(instance, pipeline.corpus_key)[VERSION] != corpus_version
    assert _tags(instance, pipeline.batch_job_key)[VERSION] != job_version
    assert not _synced(instance, pipeline)  # embeddings is stale until the sensor lands it
    run(pipeline, defs)
    assert _synced(instance, pipeline)


def test_rows_landed_while_planning_still_refresh_the_embeddings_asset(
    instance, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    """An interrupted submission's finished jobs are landed by the next plan: the embeddings
    asset still records it, so it does not stay stale (seen once under load)."""
    corpus = make_corpus(30)
    pipeline, defs = build(corpus_file(corpus))
    run(pipeline, defs)
    corpus.loc[3, "content"] = "a changed text"
    corpus_file(corpus)
    materialize_submission(defs, pipeline, instance)  # submitted, never landed (interrupted)
    interrupted = latest_submission(instance, pipeline.batch_job_key)
    assert interrupted is not None
    backend = defs.resources[pipeline.names.backend_key]
    deadline = time.monotonic() + 60
    while not all(backend.get(job.name).is_terminal for job in interrupted.jobs):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    summary = run(pipeline, defs)  # its plan lands the finished job's rows, submits nothing
    assert summary.prompts == 0
    rerun = latest_submission(instance, pipeline.batch_job_key)
    assert rerun is not None and rerun.rows_landed_while_planning == 1
    assert _synced(instance, pipeline)
