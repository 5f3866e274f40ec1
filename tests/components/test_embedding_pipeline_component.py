"""The YAML Component: the example dg project checks, lists, scaffolds and runs."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from embed_assets.cli.runner import run_pipeline
from embed_assets.components.embedding_pipeline import EmbeddingPipelineComponent

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "embed_project"
DG = str(Path(sys.executable).with_name("dg"))

pytestmark = pytest.mark.e2e  # real dg processes


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the example project, so a test may scaffold into it and run it."""
    copy = tmp_path / "embed_project"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns(".embed-assets"))
    return copy


def _dg(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DG, *args],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project / "src"), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_dg_check_and_list_load_both_pipelines_of_the_example(project: Path) -> None:
    checked = _dg(project, "check", "defs")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    listed = _dg(project, "list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr
    assets = {entry["asset_key"] for entry in json.loads(listed.stdout)["assets"]}
    for pipeline in ("docs", "faq"):
        assert {
            f"{pipeline}/{name}" for name in ("corpus", "embedding_batch_job", "embeddings")
        } <= assets


def test_dg_lists_the_component_and_scaffolds_a_third_pipeline(project: Path) -> None:
    components = _dg(project, "list", "components", "--json")
    assert components.returncode == 0, components.stderr
    keys = {entry["key"] for entry in json.loads(components.stdout)["items"]}
    assert "embed_assets.EmbeddingPipelineComponent" in keys
    scaffolded = _dg(project, "scaffold", "defs", "embed_assets.EmbeddingPipelineComponent", "news")
    assert scaffolded.returncode == 0, scaffolded.stdout + scaffolded.stderr
    folder = project / "src" / "embed_project" / "defs" / "news"
    assert "name: news" in (folder / "defs.yaml").read_text()
    assert (folder / "docs.jsonl").exists()
    checked = _dg(project, "check", "defs")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_yaml_pipelines_run_end_to_end(
    project: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The component's pipelines are EmbeddingPipelines: they embed their corpora."""
    monkeypatch.syspath_prepend(str(project / "src"))
    tree = dg.ComponentTree.for_project(project)
    defs = tree.build_defs()
    docs = next(
        c for c in tree.get_all_components(of_type=EmbeddingPipelineComponent) if c.name == "docs"
    )
    pipeline = docs.pipeline(project / "src" / "embed_project" / "defs" / "docs")
    summary = run_pipeline(defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.2)
    assert (summary.embedded, summary.failed) == (3, 0)
    assert (project / ".embed-assets" / "embeddings.duckdb").exists()
