"""The demo Definitions that `workspace.yaml` loads: the standard-library docstrings pipeline.

Everything lives under the work folder `EMBED_ASSETS_WORKDIR` (default `.embed-assets` in the
current folder): staging, job records and the DuckDB table. `embed-assets run` uses the same
layout, so `dagster dev` with `DAGSTER_HOME=<workdir>/dagster` shows the CLI's history.

The demo corpus is written once to `<workdir>/demo_corpus.jsonl` (the standard library's
docstrings); edit that file and the running `dagster dev` refreshes the pipeline by itself.
"""

import os
from pathlib import Path

import dagster as dg

from embed_assets.backends.local.resource import LocalBatchBackend
from embed_assets.cli.demo import build_neighbours_asset, stdlib_docstrings
from embed_assets.cli.workdir import workdir_from_env
from embed_assets.pipeline.embedding_pipeline import EmbeddingPipeline
from embed_assets.store.duckdb import DuckDBEmbeddingStore

DEMO_PIPELINE = "stdlib_docs"


DEMO_CORPUS_FILE = "demo_corpus.jsonl"


def demo_corpus_file(workdir: Path) -> Path:
    """Writes the standard library's docstrings to `<workdir>/demo_corpus.jsonl` once.

    An existing file is left as it is: it may hold the user's edits.
    """
    path = workdir / DEMO_CORPUS_FILE
    if not path.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".jsonl.partial")
        stdlib_docstrings().to_json(partial, orient="records", lines=True, force_ascii=False)
        partial.replace(path)
    return path


def demo_pipeline(
    *, workdir: Path, model: str | None = None, sensor_interval_seconds: int = 5
) -> EmbeddingPipeline:
    """Returns the demo pipeline over the standard library's docstrings, kept in a file."""
    return EmbeddingPipeline(
        name=DEMO_PIPELINE,
        corpus=str(demo_corpus_file(workdir)),
        model=model,
        title_column="title",
        sensor_interval_seconds=sensor_interval_seconds,
    )


def build_definitions(
    pipeline: EmbeddingPipeline, *, workdir: Path, with_neighbours: bool = True
) -> dg.Definitions:
    """Returns a pipeline's Definitions on the embedded default (local backend, DuckDB)."""
    defs = pipeline.build_definitions(
        backend=LocalBatchBackend(workdir=str(workdir)),
        store=DuckDBEmbeddingStore(path=str(workdir / "embeddings.duckdb")),
    )
    if not with_neighbours:
        return defs
    neighbours = build_neighbours_asset(
        embeddings_key=pipeline.embeddings_key,
        pipeline_name=pipeline.name,
        store_key=pipeline.names.store_key,
    )
    return dg.Definitions.merge(defs, dg.Definitions(assets=[neighbours]))


_workdir = workdir_from_env()
defs = build_definitions(
    demo_pipeline(workdir=_workdir, model=os.environ.get("EMBED_ASSETS_MODEL") or None),
    workdir=_workdir,
)
