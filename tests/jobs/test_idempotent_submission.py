"""A retried submission re-attaches to the jobs it already created."""

import pytest

from embed_assets import BatchBackend, LocalBatchBackend
from embed_assets.backends import vertex
from embed_assets.corpus.hashing import normalized_corpus
from embed_assets.corpus.validation import CorpusColumns, validate_corpus
from embed_assets.jobs.record import LABEL_SUBMISSION, Submission
from embed_assets.jobs.rows import Shard
from embed_assets.jobs.submit import submit_shards
from embed_assets.models.catalog import model_spec
from embed_assets.placements.process.plan import render_shard, shard_prompts
from tests.helpers import VERTEX_MODEL, make_corpus, planned_against_an_empty_table


@pytest.mark.parametrize("backend_kind", ["local", "vertex"])
def test_a_retry_creates_no_duplicate_job(backend_kind, workdir, request, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    backend: BatchBackend
    if backend_kind == "vertex":
        emulator = request.getfixturevalue("vertex_emulator")
        backend, model = emulator.vertex_backend(), VERTEX_MODEL
        monkeypatch.setattr(vertex, "LIST_PAGE_SIZE", 2)  # re-attaching must read every page
    else:
        backend, model = LocalBatchBackend(workdir=str(workdir)), "lexical-hash"
    corpus = normalized_corpus(
        validate_corpus(make_corpus(30), CorpusColumns(), source="t"),
        model=model,
        task_type=None,
        output_dimensionality=None,
    )
    plan = planned_against_an_empty_table(corpus, workdir / "plan")
    spec = model_spec(model)
    shards = shard_prompts(plan.prompts, spec, 10)
    staging = backend.staging()
    submission = Submission(
        submission_id="docs-retry",
        pipeline="docs",
        model=model,
        task_type=None,
        output_dimensionality=None,
        manifest_uri=staging.join("docs", "docs-retry", "manifest.parquet"),
        output_uri=staging.join("docs", "docs-retry", "output"),
        jobs=(),
        corpus_rows=30,
        accepted_rows=30,
        rejected_rows=0,
        prompts=30,
        characters=0,
        unchanged_rows=0,
        reused_rows=0,
        stale_rows=0,
    )

    def stage(shard: int, uri: str) -> None:
        start, stop = shards[shard]
        staging.write_bytes(uri, render_shard(plan.prompts.iloc[start:stop], spec, None, None))

    as_shards = [Shard(shard, stop - start, 0) for shard, (start, stop) in enumerate(shards)]
    # the first attempt dies after creating the jobs of its first two shards
    submit_shards(
        backend=backend,
        submission=submission,
        shards=as_shards[:2],
        extension=".jsonl",
        stage=stage,
        auto_truncate=True,
        log=lambda line: None,
    )
    lines: list[str] = []
    jobs = submit_shards(
        backend=backend,
        submission=submission,
        shards=as_shards,
        extension=".jsonl",
        stage=stage,
        auto_truncate=True,
        log=lines.append,
    )
    assert len(jobs) == 3
    assert len(backend.find_jobs({LABEL_SUBMISSION: "docs-retry"})) == 3
    assert sum("re-attached" in line for line in lines) == 2
    if backend_kind == "vertex":
        assert emulator.calls["create"] == 3
        assert len(emulator.jobs()) == 3
