"""Several pipelines in one code location, with their own resources or shared ones."""

from pathlib import Path

import dagster as dg
import pytest

from embed_assets import DuckDBEmbeddingStore, EmbeddingPipeline, LocalBatchBackend
from embed_assets.cli.runner import run_pipeline
from tests.helpers import make_corpus, table

pytestmark = pytest.mark.e2e  # each test runs the whole pipeline


def _pipelines(tmp_path: Path) -> tuple[EmbeddingPipeline, EmbeddingPipeline]:
    make_corpus(20).to_csv(tmp_path / "docs.csv", index=False)
    make_corpus(10, seed=1).to_csv(tmp_path / "faq.csv", index=False)
    return (
        EmbeddingPipeline(name="docs", corpus=str(tmp_path / "docs.csv"), model="lexical-hash"),
        EmbeddingPipeline(name="faq", corpus=str(tmp_path / "faq.csv"), model="lexical-hash"),
    )


def test_two_pipelines_with_their_own_resources_load_and_run_together(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """Observed: 'different resources with same key embedding_backend' on merge."""
    docs, faq = _pipelines(tmp_path)
    defs = dg.Definitions.merge(
        docs.build_definitions(
            backend=LocalBatchBackend(workdir=str(tmp_path / "a")),
            store=DuckDBEmbeddingStore(path=str(tmp_path / "a" / "e.duckdb")),
        ),
        faq.build_definitions(
            backend=LocalBatchBackend(workdir=str(tmp_path / "b")),
            store=DuckDBEmbeddingStore(path=str(tmp_path / "b" / "e.duckdb")),
        ),
    )
    dg.Definitions.validate_loadable(defs)
    for pipeline in (docs, faq):
        run_pipeline(defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.2)
    assert len(table(defs, docs)) == 20 and len(table(defs, faq)) == 10
    assert (tmp_path / "a" / "e.duckdb").exists() and (tmp_path / "b" / "e.duckdb").exists()


def test_two_pipelines_can_share_one_backend_and_one_store(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    docs, faq = _pipelines(tmp_path)
    backend = LocalBatchBackend(workdir=str(tmp_path / "shared"))
    store = DuckDBEmbeddingStore(path=str(tmp_path / "shared" / "e.duckdb"))
    defs = dg.Definitions.merge(
        docs.build_definitions(backend=backend, store=store),
        faq.build_definitions(backend=backend, store=store),
    )
    dg.Definitions.validate_loadable(defs)
    for pipeline in (docs, faq):
        run_pipeline(defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.2)
    assert len(table(defs, docs)) == 20 and len(table(defs, faq)) == 10
