"""Refreshes cost what changed: no change, one change, a deletion, failed rows retried.

Each scenario runs on the local backend and on the Vertex backend against the emulator.
"""

import pytest

from embed_assets.testing import FaultyLocalBatchBackend, JobFault
from tests.helpers import assert_accounted, make_corpus, table

pytestmark = pytest.mark.e2e  # each test runs the whole pipeline

BOTH_BACKENDS = pytest.mark.parametrize("backend_kind", ["local", "vertex"])


@BOTH_BACKENDS
def test_no_change_submits_no_job_and_the_table_still_matches(corpus_file, build, run) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(120)
    pipeline, defs = build(corpus_file(corpus))
    first = run(pipeline, defs)
    assert (first.prompts, first.jobs, first.embedded) == (120, 1, 120)
    second = run(pipeline, defs)
    assert (second.prompts, second.jobs) == (0, 0)
    assert_accounted(second, corpus)
    assert sorted(table(defs, pipeline)["id"]) == sorted(corpus["id"])


@BOTH_BACKENDS
def test_one_changed_document_is_the_only_prompt(corpus_file, build, run) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(120)
    path = corpus_file(corpus)
    pipeline, defs = build(path)
    run(pipeline, defs)
    before = table(defs, pipeline).set_index("id")
    corpus.loc[5, "content"] = "a completely new text about tea"
    corpus_file(corpus)
    summary = run(pipeline, defs)
    assert (summary.prompts, summary.jobs, summary.written) == (1, 1, 1)
    assert_accounted(summary, corpus)
    after = table(defs, pipeline).set_index("id")
    assert after.loc["doc-0005", "content_hash"] != before.loc["doc-0005", "content_hash"]
    assert after.loc["doc-0006", "embedded_at"] == before.loc["doc-0006", "embedded_at"]


@BOTH_BACKENDS
def test_a_deleted_document_leaves_the_table(corpus_file, build, run) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(50)
    path = corpus_file(corpus)
    pipeline, defs = build(path)
    run(pipeline, defs)
    corpus_file(corpus.drop(index=[3, 4]))
    summary = run(pipeline, defs)
    assert summary.prompts == 0
    assert summary.deleted == 2
    assert "doc-0003" not in set(table(defs, pipeline)["id"])
    assert summary.table_rows == 48


@BOTH_BACKENDS
def test_a_copied_text_reuses_the_stored_vector(corpus_file, build, run) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(20)
    path = corpus_file(corpus)
    pipeline, defs = build(path)
    run(pipeline, defs)
    corpus.loc[len(corpus)] = {"id": "copy", "content": corpus.loc[0, "content"]}
    corpus_file(corpus)
    summary = run(pipeline, defs)
    assert (summary.prompts, summary.reused, summary.table_rows) == (0, 1, 21)


@BOTH_BACKENDS
def test_a_text_that_moves_to_another_id_keeps_its_vector_when_its_old_id_gets_a_new_text(
    corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    """The moved text is reused from the row its old id held, which the new text replaces.

    (A paragraph that moves to the next chunk of a document does this.) The reused vector is
    copied before the new one lands; copied after, its source row would be gone.
    """
    corpus = make_corpus(20)
    path = corpus_file(corpus)
    pipeline, defs = build(path)
    run(pipeline, defs)
    before = table(defs, pipeline).set_index("id")
    moved = corpus.loc[3, "content"]
    corpus.loc[3, "content"] = "a completely new text about tea"
    corpus.loc[len(corpus)] = {"id": "moved", "content": moved}
    corpus_file(corpus)
    summary = run(pipeline, defs)
    assert (summary.prompts, summary.reused, summary.failed) == (1, 1, 0)
    assert_accounted(summary, corpus)
    after = table(defs, pipeline).set_index("id")
    assert after.loc["moved", "content_hash"] == before.loc["doc-0003", "content_hash"]
    assert after.loc["doc-0003", "content_hash"] != before.loc["doc-0003", "content_hash"]
    assert len(after) == 21


@BOTH_BACKENDS
def test_failed_rows_are_reported_and_resubmitted_next_time(
    backend_kind, corpus_file, build, run, workdir, request
) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(30)
    corpus.loc[len(corpus)] = {"id": "bad", "content": ""}
    path = corpus_file(corpus)
    if backend_kind == "vertex":  # the job ends SUCCEEDED, its failed rows inline
        request.getfixturevalue("vertex_emulator").inject(
            JobFault(fail_every_nth_row=10, queued_seconds=1)  # QUEUED first, as on the service
        )
        pipeline, defs = build(path)
    else:
        pipeline, defs = build(
            path, backend=FaultyLocalBatchBackend(workdir=str(workdir), fail_every_nth_row=10)
        )
    first = run(pipeline, defs)
    assert (first.failed, first.rejected) == (3, 1)
    assert_accounted(first, corpus)
    assert first.job_states and set(first.job_states.values()) == {"SUCCEEDED"}
    pipeline, defs = build(path)
    second = run(pipeline, defs)
    assert (second.prompts, second.failed, second.embedded) == (3, 0, 30)
    assert_accounted(second, corpus)
