"""A corpus larger than max_prompts_per_job is split over several balanced jobs."""

import pytest

from embed_assets.jobs.rows import shard_ranges
from tests.helpers import assert_accounted, make_corpus, table


@pytest.mark.e2e
def test_large_corpus_splits_into_several_jobs_that_all_land(corpus_file, build, run) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(250)
    pipeline, defs = build(corpus_file(corpus), max_prompts_per_job=100)
    summary = run(pipeline, defs)
    assert summary.jobs == 3
    assert len(summary.job_states) == 3 and set(summary.job_states.values()) == {"SUCCEEDED"}
    assert_accounted(summary, corpus)
    assert len(table(defs, pipeline)) == 250


def test_shards_are_balanced_and_within_the_limit() -> None:
    assert list(shard_ranges(65_000, 30_000)) == [(0, 21667), (21667, 43334), (43334, 65000)]
    assert list(shard_ranges(0, 10)) == []
    assert list(shard_ranges(10, 10)) == [(0, 10)]
