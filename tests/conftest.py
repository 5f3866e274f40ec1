"""Shared fixtures: a temporary Dagster instance, work folder, corpora and pipelines."""

from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from embed_assets import BatchBackend, DuckDBEmbeddingStore, EmbeddingPipeline, LocalBatchBackend
from embed_assets.runner import RunSummary, run_pipeline
from embed_assets.testing.fixtures import make_vertex_emulator, vertex_emulator  # noqa: F401

VERTEX_MODEL = "text-embedding-005"

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


def table(defs: dg.Definitions, pipeline: EmbeddingPipeline) -> pd.DataFrame:
    store: DuckDBEmbeddingStore = defs.resources[pipeline.store_key]
    return store.read(pipeline.name)


def assert_accounted(summary: RunSummary, corpus: pd.DataFrame) -> None:
    """The invariant: corpus rows = embedded + failed + rejected."""
    assert summary.rows_read == len(corpus)
    assert summary.embedded + summary.failed + summary.rejected == len(corpus)


def tick_sensor(
    defs: dg.Definitions,
    pipeline: EmbeddingPipeline,
    instance: dg.DagsterInstance,
    cursor: str | None,
) -> dg.SensorResult:
    """Evaluates one tick of the pipeline's sensor with its backend resource."""
    sensor = defs.resolve_sensor_def(pipeline.sensor_name)
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=defs,
        resources={pipeline.backend_key: defs.resources[pipeline.backend_key]},
    ) as context:
        return sensor.evaluate_tick(context)


def materialize_submission(
    defs: dg.Definitions, pipeline: EmbeddingPipeline, instance: dg.DagsterInstance
) -> None:
    """Materializes the corpus and the batch job: jobs are submitted, nothing is landed yet."""
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.execute_in_process(
        instance=instance, asset_selection=[pipeline.corpus_key, pipeline.batch_job_key]
    ).success
