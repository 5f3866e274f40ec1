"""One pipeline's jobs are never another's: `Docs` and `docs` in one project keep apart."""

from pathlib import Path

import dagster as dg
import pytest

from embed_assets import DuckDBEmbeddingStore, EmbeddingPipeline
from embed_assets.cli.runner import run_pipeline
from embed_assets.jobs.record import LABEL_PIPELINE, pipeline_label
from embed_assets.testing import JobFault, VertexEmulator
from tests.helpers import VERTEX_MODEL, make_corpus, materialize_submission

pytestmark = pytest.mark.e2e


def _pipeline(
    name: str, folder: Path, emulator: VertexEmulator
) -> tuple[EmbeddingPipeline, dg.Definitions]:
    folder.mkdir(parents=True)
    make_corpus(30, seed=len(folder.name)).to_json(
        folder / "corpus.jsonl", orient="records", lines=True
    )
    pipeline = EmbeddingPipeline(name=name, corpus=str(folder / "corpus.jsonl"), model=VERTEX_MODEL)
    defs = pipeline.build_definitions(
        backend=emulator.vertex_backend(staging_uri=f"gs://embed-assets/{folder.name}"),
        store=DuckDBEmbeddingStore(path=str(folder / "embeddings.duckdb")),
    )
    return pipeline, defs


def test_pipelines_whose_names_differ_in_case_never_adopt_or_cancel_each_other_s_jobs(
    vertex_emulator: VertexEmulator, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    """`Docs` submits a job that waits; `docs` refreshes in the same project: it leaves it be."""
    upper, upper_defs = _pipeline("Docs", tmp_path / "upper", vertex_emulator)
    lower, lower_defs = _pipeline("docs", tmp_path / "lower", vertex_emulator)
    vertex_emulator.inject(JobFault(stuck_pending=True), count=1)
    materialize_submission(upper_defs, upper, instance)
    (waiting,) = vertex_emulator.jobs()
    summary = run_pipeline(defs=lower_defs, pipeline=lower, instance=instance, poll_seconds=0.2)
    assert summary.embedded == 30 and summary.prompts == 30  # its own texts, none adopted
    jobs = {job["name"]: job for job in vertex_emulator.jobs()}
    assert jobs[waiting["name"]]["state"] == "JOB_STATE_PENDING"  # not cancelled as superseded
    labels = {job["labels"][LABEL_PIPELINE] for job in jobs.values()}
    assert labels == {pipeline_label("Docs"), pipeline_label("docs")}
    assert pipeline_label("Docs") != pipeline_label("docs")
    assert all(label.startswith("docs-") and len(label) <= 63 for label in labels)
