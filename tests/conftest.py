"""Shared fixtures: a temporary Dagster instance, work folder, corpora and pipelines."""

from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from embed_assets import BatchBackend, DuckDBEmbeddingStore, EmbeddingPipeline, LocalBatchBackend
from embed_assets.cli.runner import RunSummary, run_pipeline
from embed_assets.testing.fixtures import (  # noqa: F401
    bigquery_emulator,
    bigquery_server,
    make_vertex_emulator,
    vertex_emulator,
)
from tests.helpers import VERTEX_MODEL

# The files whose tests take longest (minutes: the UI, the BigQuery emulator, a fresh install)
# start first, so pytest-xdist's workers end together instead of one running them at the end.
LONGEST_FIRST = (
    "tests/ui/",
    "tests/backends/test_vertex_bigquery.py",
    "tests/test_packaging.py",
    "tests/jobs/test_interruptions_bigquery.py",
    "tests/store/test_stores.py",
    "tests/cli/test_full_disk.py",
    "tests/pipeline/test_chunked_pipeline.py",
    "tests/jobs/test_interruptions.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Runs the longest files' tests first, in the order listed, each file's in its order."""

    def place(item: pytest.Item) -> int:
        found = [i for i, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)]
        return found[0] if found else len(LONGEST_FIRST)

    items.sort(key=place)


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
def parquet_corpus_file(tmp_path: Path) -> Callable[[pd.DataFrame], Path]:
    """Writes a frame as a Parquet corpus file of small row groups (the same path each call)."""
    path = tmp_path / "corpus.parquet"

    def write(frame: pd.DataFrame) -> Path:
        frame.to_parquet(path, index=False, row_group_size=2)
        return path

    return write


@pytest.fixture
def backend_kind() -> str:
    """Which backend `build` uses; tests parametrize it over "local" and "vertex"."""
    return "local"


@pytest.fixture
def build(
    workdir: Path, backend_kind: str, request: pytest.FixtureRequest
) -> Callable[..., tuple[EmbeddingPipeline, dg.Definitions]]:
    """Builds a pipeline over a corpus file and DuckDB.

    The backend is the local one (lexical model), or for `backend_kind="vertex"` the Vertex
    backend against the emulator (text-embedding-005, emulated).
    """

    def make(
        corpus: Path,
        *,
        model: str | None = None,
        backend: BatchBackend | None = None,
        **options: object,
    ) -> tuple[EmbeddingPipeline, dg.Definitions]:
        if backend is None and backend_kind == "vertex":
            backend = request.getfixturevalue("vertex_emulator").vertex_backend()
        if backend is None:
            backend = LocalBatchBackend(workdir=str(workdir))
        if model is None:
            model = VERTEX_MODEL if backend_kind == "vertex" else "lexical-hash"
        pipeline = EmbeddingPipeline(name="docs", corpus=str(corpus), model=model, **options)  # type: ignore[arg-type]
        defs = pipeline.build_definitions(
            backend=backend,
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
