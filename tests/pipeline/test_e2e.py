"""The whole graph end to end with the real sensor, on the local backend and on Vertex (emulated)."""

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from embed_assets.models.registry import minilm_available
from embed_assets.pipeline.cursor import read_cursor
from tests.helpers import assert_accounted, make_corpus, table, tick_sensor, tick_until_requested

pytestmark = pytest.mark.e2e  # each test runs the whole pipeline


@pytest.mark.parametrize("backend_kind", ["local", "vertex"])
def test_sensor_requests_one_run_and_the_table_matches_the_corpus(
    backend_kind: str,
    instance: dg.DagsterInstance,
    corpus_file: Callable[[pd.DataFrame], Path],
    build,
    workdir: Path,  # type: ignore[no-untyped-def]
) -> None:
    """Ticks the real sensor until it requests a run, materializes that selection, lands it."""
    corpus = make_corpus(300)
    pipeline, defs = build(corpus_file(corpus))
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.execute_in_process(
        instance=instance, asset_selection=[pipeline.corpus_key, pipeline.batch_job_key]
    ).success
    tick, cursor = tick_until_requested(defs, pipeline, instance)
    assert len(tick.run_requests) == 1
    request = tick.run_requests[0]
    submission_id = read_cursor(cursor).submission_id
    assert request.run_key == submission_id
    selection = (
        dg.AssetSelection.assets(pipeline.embeddings_key)
        .downstream()
        .resolve(defs.resolve_asset_graph())
    )
    result = job.execute_in_process(
        instance=instance, asset_selection=list(selection), tags=request.tags
    )
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    landed = table(defs, pipeline)
    assert sorted(landed["id"]) == sorted(corpus["id"])
    assert {len(v) for v in landed["embedding"]} == {256 if backend_kind == "local" else 768}
    again = tick_sensor(defs, pipeline, instance, cursor)
    assert not again.run_requests  # never twice for one submission
    fresh = tick_sensor(defs, pipeline, instance, None)
    assert not fresh.run_requests  # even with a lost cursor: the table already holds it


@pytest.mark.minilm
@pytest.mark.skipif(not minilm_available(), reason="the local extra is not installed")
def test_minilm_end_to_end_gives_semantic_neighbours(corpus_file, build, run) -> None:  # type: ignore[no-untyped-def]
    corpus = pd.DataFrame(
        {
            "id": ["date", "datetime", "bread", "cake", "bad"],
            "content": [
                "Parse a date from a string.",
                "Convert text into a datetime object.",
                "Bake bread with flour and yeast.",
                "A recipe for a chocolate cake.",
                "   ",
            ],
        }
    )
    # one of five rows is rejected on purpose: allow that fraction
    pipeline, defs = build(corpus_file(corpus), model="all-MiniLM-L6-v2", max_rejected_fraction=0.2)
    summary = run(pipeline, defs)
    assert_accounted(summary, corpus)
    assert (summary.embedded, summary.rejected, summary.failed) == (4, 1, 0)
    landed = table(defs, pipeline).set_index("id")
    vectors = {i: np.asarray(v) for i, v in landed["embedding"].items()}
    assert len(vectors["date"]) == 384
    assert vectors["date"] @ vectors["datetime"] > vectors["date"] @ vectors["bread"]
    assert summary.tokens > 0
