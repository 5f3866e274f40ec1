"""Shared fixtures: a temporary Dagster instance, work folder, corpora and pipelines."""

from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from embed_assets import DuckDBEmbeddingStore, EmbeddingPipeline, LocalBatchBackend
from embed_assets.runner import RunSummary, run_pipeline

WORDS = [
    "river",
    "mountain",
    "data",
    "table",
    "query",
    "vector",
    "model",
    "batch",
    "job",
    "sensor",
    "asset",
    "lineage",
    "corpus",
    "index",
    "search",
    "cloud",
    "storage",
    "python",
    "library",
    "function",
    "class",
    "method",
    "string",
    "number",
    "date",
    "time",
]


def make_corpus(rows: int, *, seed: int = 0) -> pd.DataFrame:
    """A corpus of distinct short texts with ids doc-0000..."""
    texts = []
    for i in range(rows):
        words = [WORDS[(i * 7 + j * (seed + 3)) % len(WORDS)] for j in range(6)]
        texts.append(f"document {i}: " + " ".join(words))
    return pd.DataFrame({"id": [f"doc-{i:04d}" for i in range(rows)], "content": texts})


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "work"


@pytest.fixture
def corpus_file(tmp_path: Path) -> Callable[[pd.DataFrame], Path]:
    """Writes a frame as a JSONL corpus file and returns its path (the same path each call)."""
    path = tmp_path / "corpus.jsonl"

    def write(frame: pd.DataFrame) -> Path:
        frame.to_json(path, orient="records", lines=True)
        return path

    return write


@pytest.fixture
def build(workdir: Path) -> Callable[..., tuple[EmbeddingPipeline, dg.Definitions]]:
    """Builds a pipeline over a corpus file on the local backend and DuckDB."""

    def make(
        corpus: Path,
        *,
        model: str = "lexical-hash",
        backend: LocalBatchBackend | None = None,
        **options: object,
    ) -> tuple[EmbeddingPipeline, dg.Definitions]:
        pipeline = EmbeddingPipeline(name="docs", corpus=str(corpus), model=model, **options)  # type: ignore[arg-type]
        defs = pipeline.build_definitions(
            backend=backend or LocalBatchBackend(workdir=str(workdir)),
            store=DuckDBEmbeddingStore(path=str(workdir / "embeddings.duckdb")),
        )
        return pipeline, defs

    return make


@pytest.fixture
def run(instance: dg.DagsterInstance) -> Callable[..., RunSummary]:
    """Runs a pipeline end to end with the real sensor on the test instance."""

    def go(pipeline: EmbeddingPipeline, defs: dg.Definitions) -> RunSummary:
        return run_pipeline(defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.2)

    return go


def table(defs: dg.Definitions, pipeline: EmbeddingPipeline) -> pd.DataFrame:
    store: DuckDBEmbeddingStore = defs.resources[pipeline.store_key]
    return store.read(pipeline.name)


def assert_accounted(summary: RunSummary, corpus: pd.DataFrame) -> None:
    """The invariant: corpus rows = embedded + failed + rejected."""
    assert summary.rows_read == len(corpus)
    assert summary.embedded + summary.failed + summary.rejected == len(corpus)
