"""The demo Definitions that `workspace.yaml` loads: the standard-library docstrings pipeline.

Everything lives under the work folder `EMBED_ASSETS_WORKDIR` (default `.embed-assets` in the
current folder): staging, job records and the DuckDB table. `embed-assets run` uses the same
layout, so `dagster dev` with `DAGSTER_HOME=<workdir>/dagster` shows the CLI's history.
"""

import os
from pathlib import Path

import dagster as dg

from embed_assets.backends.local import LocalBatchBackend
from embed_assets.cli.demo import build_neighbours_asset, stdlib_docstrings
from embed_assets.cli.workdir import workdir_from_env
from embed_assets.pipeline.embedding_pipeline import EmbeddingPipeline
from embed_assets.store.duckdb import DuckDBEmbeddingStore

DEMO_PIPELINE = "stdlib_docs"


def demo_pipeline(
    *, model: str | None = None, sensor_interval_seconds: int = 5
) -> EmbeddingPipeline:
    """Returns the demo pipeline over the standard library's docstrings."""
    return EmbeddingPipeline(
        name=DEMO_PIPELINE,
        corpus=stdlib_docstrings,
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


defs = build_definitions(
    demo_pipeline(model=os.environ.get("EMBED_ASSETS_MODEL") or None), workdir=workdir_from_env()
)
