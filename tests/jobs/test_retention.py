"""Staging retention: landed submissions keep only their manifest (unless keep_staging)."""

from pathlib import Path

import pytest

from tests.helpers import make_corpus

pytestmark = pytest.mark.e2e  # each test runs the whole pipeline


def _staged(workdir: Path) -> list[str]:
    return sorted(p.name for p in (workdir / "staging").rglob("*") if p.is_file())


@pytest.mark.parametrize("backend_kind", ["local", "vertex"])
def test_landing_deletes_request_and_prediction_files_but_keeps_the_manifest(
    backend_kind, corpus_file, build, run, workdir, request
) -> None:  # type: ignore[no-untyped-def]
    """Two refreshes later only the two manifests are staged; the table holds every row."""
    corpus = make_corpus(60)
    pipeline, defs = build(corpus_file(corpus), max_prompts_per_job=25)
    run(pipeline, defs)
    corpus.loc[0, "content"] = "a changed text"
    corpus_file(corpus)
    summary = run(pipeline, defs)
    assert (summary.prompts, summary.table_rows) == (1, 60)
    staging = defs.resources[pipeline.names.backend_key].staging()
    if backend_kind == "local":
        assert _staged(workdir) == ["manifest.parquet", "manifest.parquet"]
    names = [uri.rsplit("/", 1)[-1] for uri in staging.list_jsonl(staging.join(pipeline.name))]
    assert names == []  # no request or prediction file is left, locally or in Cloud Storage


def test_keep_staging_keeps_everything(corpus_file, build, run, workdir) -> None:  # type: ignore[no-untyped-def]
    """For debugging, `keep_staging=True` keeps the request and prediction files."""
    pipeline, defs = build(corpus_file(make_corpus(10)), keep_staging=True)
    run(pipeline, defs)
    staged = _staged(workdir)
    assert "manifest.parquet" in staged and "requests-00000.jsonl" in staged
    assert any(name.startswith("predictions_") for name in staged)
