"""A bad corpus never empties the table: guarded deletes, exact ids, every bad value a reason."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from embed_assets import DuckDBEmbeddingStore, EmbeddingPipeline, LocalBatchBackend
from embed_assets.cli.runner import PipelineRunError
from embed_assets.pipeline.config import RefreshConfig
from embed_assets.pipeline.history import latest_submission
from tests.helpers import make_corpus, table

pytestmark = pytest.mark.e2e  # each test runs the whole pipeline


def _ids(defs, pipeline) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(table(defs, pipeline)["id"])


def test_a_header_only_csv_deletes_nothing_and_says_why(
    tmp_path: Path, build, run, instance
) -> None:  # type: ignore[no-untyped-def]
    """After a good run of 3 rows, an empty corpus is refused: 3 rows stay, nothing submitted."""
    path = tmp_path / "docs.csv"
    path.write_text("id,content\n1,alpha beta\n2,gamma delta\n3,epsilon\n")
    pipeline, defs = build(path)
    run(pipeline, defs)
    before = latest_submission(instance, pipeline.batch_job_key)
    path.write_text("id,content\n")
    with pytest.raises(PipelineRunError, match="no row that can be embedded.*allow_empty_corpus"):
        run(pipeline, defs)
    assert _ids(defs, pipeline) == ["1", "2", "3"]
    assert latest_submission(instance, pipeline.batch_job_key) == before  # nothing submitted


def test_a_corpus_of_rejected_rows_is_blocked_by_its_check(tmp_path: Path, build, run) -> None:  # type: ignore[no-untyped-def]
    """Integers as the text column: every row rejected, the blocking check stops the refresh."""
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": 1, "content": "alpha"}\n{"id": 2, "content": "beta"}\n')
    pipeline, defs = build(path)
    run(pipeline, defs)
    path.write_text('{"id": 1, "content": 5}\n{"id": 2, "content": 6}\n')
    with pytest.raises(PipelineRunError, match=r"2 of 2 corpus rows \(100.0%\) were rejected"):
        run(pipeline, defs)
    assert _ids(defs, pipeline) == ["1", "2"]


def test_a_large_delete_is_refused_unless_the_run_allows_it(
    corpus_file, build, workdir, instance
) -> None:  # type: ignore[no-untyped-def]
    """Dropping 60 % of the ids is refused; with allow_large_delete the rows go."""
    from embed_assets.cli.runner import run_pipeline

    corpus = make_corpus(50)
    pipeline, defs = build(corpus_file(corpus))
    run_pipeline(defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.2)
    corpus_file(corpus.head(20))
    with pytest.raises(
        PipelineRunError, match=r"delete 30 of the 50 stored rows.*allow_large_delete"
    ):
        run_pipeline(defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.2)
    assert len(_ids(defs, pipeline)) == 50
    summary = run_pipeline(
        defs=defs,
        pipeline=pipeline,
        instance=instance,
        poll_seconds=0.2,
        refresh=RefreshConfig(allow_large_delete=True),
    )
    assert summary.deleted == 30
    assert _ids(defs, pipeline) == sorted(corpus.head(20)["id"])


def test_ids_are_kept_exactly_as_the_source_wrote_them(tmp_path: Path, build, run) -> None:  # type: ignore[no-untyped-def]
    """A big JSONL integer stays exact; a fractional id is rejected and renames nobody."""
    path = tmp_path / "docs.jsonl"
    path.write_text(
        '{"id": 9007199254740993, "content": "big"}\n'
        '{"id": 1, "content": "one"}\n{"id": 2, "content": "two"}\n'
    )
    pipeline, defs = build(path, max_rejected_fraction=0.5)
    run(pipeline, defs)
    assert _ids(defs, pipeline) == ["1", "2", "9007199254740993"]
    path.write_text(path.read_text() + '{"id": 2.5, "content": "two and a half"}\n')
    summary = run(pipeline, defs)
    assert summary.rejected_by_reason == {"id is a number with a fraction": 1}
    assert _ids(defs, pipeline) == ["1", "2", "9007199254740993"]


def test_a_parquet_nan_id_and_list_content_are_reasons_not_crashes(
    tmp_path: Path, build, run
) -> None:  # type: ignore[no-untyped-def]
    """Float ids with a NaN keep their integer text; list and struct texts are rejected."""
    path = tmp_path / "docs.parquet"
    pq.write_table(
        pa.table(
            {
                "id": pa.array([1.0, 2.0, float("nan"), 4.0, 5.0]),
                "content": pa.array(["one", "two", "three", "four", "five"]),
                "tags": pa.array([["a"], ["b"], [], [], []], pa.list_(pa.string())),
            }
        ),
        path,
    )
    pipeline, defs = build(path, max_rejected_fraction=0.5)
    summary = run(pipeline, defs)
    assert summary.rejected_by_reason == {"missing id": 1}
    assert _ids(defs, pipeline) == ["1", "2", "4", "5"]
    lists, _ = build(path, text_column="tags", max_rejected_fraction=1.0)
    frame = lists.prepare(lists.load_corpus())
    assert set(frame["reason"]) == {"content is not text", "missing id"}


def test_an_invisible_text_is_rejected_and_search_never_returns_nan(
    tmp_path: Path, workdir: Path, run
) -> None:  # type: ignore[no-untyped-def]
    """A zero-width space is no text; search ranks real rows and never scores NaN."""
    path = tmp_path / "docs.jsonl"
    frame = pd.DataFrame(
        {"id": ["a", "b", "z"], "content": ["river bank", "mountain path", "\u200b"]}
    )
    frame.to_json(path, orient="records", lines=True)
    store = DuckDBEmbeddingStore(path=str(workdir / "embeddings.duckdb"))
    pipeline = EmbeddingPipeline(
        name="docs", corpus=str(path), model="lexical-hash", max_rejected_fraction=0.5
    )
    defs = pipeline.build_definitions(backend=LocalBatchBackend(workdir=str(workdir)), store=store)
    summary = run(pipeline, defs)
    assert summary.rejected_by_reason == {"content has no visible characters": 1}
    found = store.search("docs", np.eye(1, 256, 0, dtype=np.float32)[0], k=5)
    assert not found["similarity"].isna().any()
    assert "z" not in set(found["id"])


def test_two_pipelines_never_share_a_table(corpus_file, workdir: Path, run) -> None:  # type: ignore[no-untyped-def]
    """`--name Docs` then `--name docs`: the second is refused and Docs keeps every row."""
    store = DuckDBEmbeddingStore(path=str(workdir / "embeddings.duckdb"))
    backend = LocalBatchBackend(workdir=str(workdir))
    first = EmbeddingPipeline(
        name="Docs", corpus=str(corpus_file(make_corpus(10))), model="lexical-hash"
    )
    run(first, first.build_definitions(backend=backend, store=store))
    second = EmbeddingPipeline(
        name="docs", corpus=str(corpus_file(make_corpus(3))), model="lexical-hash"
    )
    with pytest.raises(PipelineRunError, match="table docs belongs to pipeline 'Docs'"):
        run(second, second.build_definitions(backend=backend, store=store))
    assert len(store.read("Docs")) == 10
