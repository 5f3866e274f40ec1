"""A model switch builds a new generation beside the table and switches only when it is covered."""

import duckdb
import numpy as np
import pytest

from embed_assets.testing import JobFault
from tests.helpers import assert_accounted, make_corpus, table

pytestmark = pytest.mark.e2e  # each test runs the whole pipeline


@pytest.fixture
def backend_kind() -> str:
    """The pipelines in this file run on the Vertex backend against the emulator."""
    return "vertex"


def _tables(workdir) -> set[str]:  # type: ignore[no-untyped-def]
    with duckdb.connect(str(workdir / "embeddings.duckdb"), read_only=True) as con:
        return {str(row[0]) for row in con.execute("SHOW TABLES").fetchall()}


def test_a_model_switch_with_a_failed_job_keeps_serving_every_old_row(
    vertex_emulator, corpus_file, build, run, workdir
) -> None:  # type: ignore[no-untyped-def]
    """Observed: one failed job of a model switch shrank the table from 5,000 to 2,500 rows."""
    corpus = make_corpus(400)
    path = corpus_file(corpus)
    old, old_defs = build(path, model="text-embedding-005", max_prompts_per_job=200)
    assert run(old, old_defs).embedded == 400
    before = table(old_defs, old)

    new, new_defs = build(
        path, model="gemini-embedding-001", output_dimensionality=256, max_prompts_per_job=200
    )
    vertex_emulator.inject(JobFault(final_state="FAILED"), display_name_contains="-00001")
    switching = run(new, new_defs)
    assert (switching.prompts, switching.failed) == (400, 200)
    assert switching.building_model == "gemini-embedding-001"
    assert switching.serving_model == "text-embedding-005"
    assert not switching.checks["coverage"]
    serving = table(new_defs, new)  # every old row still served, vectors untouched
    assert sorted(serving["id"]) == sorted(corpus["id"])
    assert set(serving["model"]) == {"text-embedding-005"}
    assert serving.set_index("id")["content_hash"].equals(before.set_index("id")["content_hash"])
    assert {len(vector) for vector in serving["embedding"]} == {768}
    assert "docs#next" in _tables(workdir)

    finished = run(new, new_defs)  # only the failed rows are submitted again
    assert (finished.prompts, finished.embedded, finished.failed) == (200, 400, 0)
    assert finished.serving_model == "gemini-embedding-001" and finished.building_model is None
    assert finished.checks == dict.fromkeys(finished.checks, True)
    switched = table(new_defs, new)
    assert sorted(switched["id"]) == sorted(corpus["id"])
    assert set(switched["model"]) == {"gemini-embedding-001"}
    assert {len(vector) for vector in switched["embedding"]} == {256}
    assert "docs#next" not in _tables(workdir)  # the old generation was dropped
    assert_accounted(finished, corpus)


def test_switching_back_before_the_new_generation_is_complete_drops_it(
    vertex_emulator, corpus_file, build, run, workdir
) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(40)
    path = corpus_file(corpus)
    old, old_defs = build(path, model="text-embedding-005", max_prompts_per_job=20)
    run(old, old_defs)
    vectors = np.stack(table(old_defs, old)["embedding"].to_numpy())
    new, new_defs = build(path, model="gemini-embedding-001", max_prompts_per_job=20)
    vertex_emulator.inject(JobFault(final_state="FAILED"), display_name_contains="-00001")
    assert run(new, new_defs).building_model == "gemini-embedding-001"
    back = run(old, old_defs)  # the old settings again: nothing to submit, nothing lost
    assert (back.prompts, back.embedded) == (0, 40)
    assert "docs#next" not in _tables(workdir)
    assert np.array_equal(np.stack(table(old_defs, old)["embedding"].to_numpy()), vectors)
