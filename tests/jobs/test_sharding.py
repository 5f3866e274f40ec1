"""A corpus larger than max_prompts_per_job is split over several jobs."""

from conftest import assert_accounted, make_corpus, table


def test_large_corpus_splits_into_several_jobs_that_all_land(corpus_file, build, run) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(250)
    pipeline, defs = build(corpus_file(corpus), max_prompts_per_job=100)
    summary = run(pipeline, defs)
    assert summary.jobs == 3
    assert len(summary.job_states) == 3 and set(summary.job_states.values()) == {"SUCCEEDED"}
    assert_accounted(summary, corpus)
    assert len(table(defs, pipeline)) == 250
