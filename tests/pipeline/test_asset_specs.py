"""Asset specs users shape: prefix, group, owners, tags, descriptions, and a translator."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from embed_assets import (
    AssetSpecTranslator,
    DuckDBEmbeddingStore,
    EmbeddingPipeline,
    LocalBatchBackend,
)
from embed_assets.cli.runner import run_pipeline
from tests.helpers import make_corpus, table

ROOT = Path(__file__).resolve().parents[2]


def _specs(defs: dg.Definitions) -> dict[dg.AssetKey, dg.AssetSpec]:
    graph = defs.resolve_asset_graph()
    return {key: graph.get(key).to_asset_spec() for key in graph.get_all_asset_keys()}


def _resources(tmp_path: Path) -> dict[str, object]:
    return {
        "backend": LocalBatchBackend(workdir=str(tmp_path / "w")),
        "store": DuckDBEmbeddingStore(path=str(tmp_path / "w" / "e.duckdb")),
    }


def test_prefix_group_owners_tags_and_descriptions_reach_every_asset(tmp_path: Path) -> None:
    make_corpus(3).to_csv(tmp_path / "docs.csv", index=False)
    pipeline = EmbeddingPipeline(
        name="docs",
        corpus=str(tmp_path / "docs.csv"),
        model="lexical-hash",
        key_prefix=["search", "docs"],
        group_name="search",
        owners=["team:search"],
        tags={"tier": "gold"},
        descriptions={"embeddings": "Vectors of the docs."},
    )
    specs = _specs(pipeline.build_definitions(**_resources(tmp_path)))  # type: ignore[arg-type]
    names = ("corpus", "embedding_batch_job", "embeddings")
    keys = [dg.AssetKey(["search", "docs", name]) for name in names]
    assert set(keys) <= set(specs)
    for key in keys:
        assert specs[key].group_name == "search"
        assert specs[key].owners == ["team:search"]
        assert specs[key].tags.get("tier") == "gold"
    assert specs[keys[2]].description == "Vectors of the docs."
    assert "normalized to id, content, title" in (specs[keys[0]].description or "")


def test_a_bad_key_prefix_or_description_key_is_refused_where_it_is_given() -> None:
    with pytest.raises(ValueError, match="key_prefix"):
        EmbeddingPipeline(name="docs", corpus="d.csv", model="lexical-hash", key_prefix=["a b"])
    with pytest.raises(ValueError, match="descriptions names no asset of a pipeline: embedings"):
        EmbeddingPipeline(
            name="docs", corpus="d.csv", model="lexical-hash", descriptions={"embedings": "x"}
        )


class Renamed(AssetSpecTranslator):
    """Moves the table to warehouse/doc_vectors and tags every asset."""

    def get_asset_spec(self, *, asset: str, spec: dg.AssetSpec) -> dg.AssetSpec:
        if asset == "embeddings":
            spec = spec.replace_attributes(key=["warehouse", "doc_vectors"])
        return spec.merge_attributes(tags={"shaped": "yes"})


@pytest.mark.e2e
def test_a_translated_key_is_followed_by_the_sensor_the_landing_and_downstream(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """The embeddings asset under another key: the sensor lands it and downstream refreshes."""
    make_corpus(12).to_csv(tmp_path / "docs.csv", index=False)
    pipeline = EmbeddingPipeline(
        name="docs", corpus=str(tmp_path / "docs.csv"), model="lexical-hash", translator=Renamed()
    )
    assert pipeline.embeddings_key == dg.AssetKey(["warehouse", "doc_vectors"])

    @dg.asset(deps=[pipeline.embeddings_key])
    def downstream() -> None:
        (tmp_path / "downstream-ran").write_text("yes")

    defs = dg.Definitions.merge(
        pipeline.build_definitions(**_resources(tmp_path)),  # type: ignore[arg-type]
        dg.Definitions(assets=[downstream]),
    )
    specs = _specs(defs)
    assert specs[pipeline.embeddings_key].tags.get("shaped") == "yes"
    summary = run_pipeline(defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.2)
    assert (summary.embedded, summary.failed) == (12, 0)
    assert sorted(table(defs, pipeline)["id"]) == [f"doc-{i:04d}" for i in range(12)]
    landed = instance.get_latest_materialization_event(pipeline.embeddings_key)
    assert landed is not None
    assert (tmp_path / "downstream-ran").read_text() == "yes"


DEFS_YAML = """
type: embed_assets.EmbeddingPipelineComponent
attributes:
  name: news
  corpus: docs.jsonl
  model: lexical-hash
  key_prefix: [media, news]
  owners: [team:media]
post_processing:
  assets:
    - target: "*"
      attributes:
        tags:
          reviewed: "true"
"""


@pytest.mark.e2e
def test_yaml_shapes_specs_with_fields_and_with_dagster_post_processing(tmp_path: Path) -> None:
    """A `defs.yaml` with key_prefix and owners, and post_processing adding a tag, in `dg`."""
    import shutil

    project = tmp_path / "embed_project"
    shutil.copytree(ROOT / "examples" / "embed_project", project)
    folder = project / "src" / "embed_project" / "defs" / "news"
    folder.mkdir()
    (folder / "defs.yaml").write_text(DEFS_YAML)
    (folder / "docs.jsonl").write_text('{"id": "1", "content": "news"}\n')
    listed = subprocess.run(
        [str(Path(sys.executable).with_name("dg")), "list", "defs", "--json"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project / "src"), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    import json

    assets = {entry["asset_key"]: entry for entry in json.loads(listed.stdout)["assets"]}
    for name in ("corpus", "embedding_batch_job", "embeddings"):
        entry = assets[f"media/news/{name}"]
        assert "media" in str(entry["owners"])
        assert any("reviewed" in str(tag) for tag in entry["tags"]), entry["tags"]
