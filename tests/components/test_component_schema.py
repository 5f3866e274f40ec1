"""The Component's schema is EmbeddingPipeline's: every field, the same names and words."""

import dataclasses
import inspect
import re
from pathlib import Path

import dagster as dg
import pytest

from embed_assets import (
    BigQueryEmbeddingStore,
    BigQueryQuery,
    DuckDBEmbeddingStore,
    EmbeddingPipeline,
    EmbeddingPipelineComponent,
    LocalBatchBackend,
    VertexBatchBackend,
)
from embed_assets.components.embedding_pipeline import PYTHON_ONLY
from embed_assets.components.resources import NOT_IN_YAML
from embed_assets.corpus.chunking import Chunking
from embed_assets.errors import ConfigError
from embed_assets.models.catalog import BatchPrice, ModelSpec, PromptRule, model_spec
from embed_assets.pipeline.fields import FIELD_DESCRIPTIONS
from embed_assets.predictions.lines import RequestSchema

BLOCKS = {
    "backend": (LocalBatchBackend, VertexBatchBackend),
    "store": (DuckDBEmbeddingStore, BigQueryEmbeddingStore),
}


def _schema() -> dict:  # type: ignore[type-arg]
    return EmbeddingPipelineComponent.model().model_json_schema()


def _docstring_attributes(cls: type) -> dict[str, str]:
    """Each attribute's description in `cls`'s Google-style docstring, joined onto one line."""
    lines = inspect.cleandoc(cls.__doc__ or "").splitlines()
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in lines[lines.index("Attributes:") + 1 :]:
        if line and not line.startswith(" "):
            break  # the next section
        entry = re.match(r"^    (\w+): (.*)$", line)
        if entry:
            current = found.setdefault(entry.group(1), [entry.group(2)])
        elif line.strip():
            current.append(line.strip())
    return {name: " ".join(words) for name, words in found.items()}


def test_every_pipeline_field_is_described_in_code_and_in_the_docstring_alike() -> None:
    """The descriptions YAML shows (code, kept under `-OO`) are the docstring's, word for word."""
    names = [field.name for field in dataclasses.fields(EmbeddingPipeline)]
    assert list(FIELD_DESCRIPTIONS) == names
    assert _docstring_attributes(EmbeddingPipeline) == FIELD_DESCRIPTIONS


def test_every_pipeline_field_is_a_yaml_field_with_its_name_and_description() -> None:
    """A field added to EmbeddingPipeline and not to the Component fails here."""
    properties = _schema()["properties"]
    documented = FIELD_DESCRIPTIONS
    expected = {f.name for f in dataclasses.fields(EmbeddingPipeline)} - PYTHON_ONLY
    assert expected - set(properties) == set()
    assert set(properties) - expected == {"backend", "store"}
    for name in expected:
        assert properties[name].get("description") == documented[name], name
    assert "model" in properties and "embedding_model" not in properties


def test_every_resource_option_is_settable_in_its_block() -> None:
    defs = _schema()["$defs"]
    for block, resources in BLOCKS.items():
        model = next(v for k, v in defs.items() if k.lower().startswith(block))
        for resource in resources:
            for name, option in resource.model_fields.items():
                if name in NOT_IN_YAML:
                    continue
                assert name in model["properties"], (block, name)
                assert (option.description or "") in model["properties"][name]["description"]


def test_yaml_takes_each_kind_of_corpus_and_every_option(tmp_path: Path) -> None:
    query = EmbeddingPipelineComponent.resolve_from_yaml(
        "name: docs\ncorpus: {sql: 'SELECT 1', project: p}\nmodel: lexical-hash\n"
    )
    assert query.pipeline(tmp_path).corpus == BigQueryQuery(sql="SELECT 1", project="p")
    upstream = EmbeddingPipelineComponent.resolve_from_yaml(
        "name: docs\ncorpus: {asset: raw/docs}\nmodel: lexical-hash\n"
    )
    assert upstream.pipeline(tmp_path).corpus == dg.AssetKey(["raw", "docs"])
    full = EmbeddingPipelineComponent.resolve_from_yaml(
        """
name: docs
corpus: docs.jsonl
model: lexical-hash
auto_truncate: false
chunking: {max_tokens: 400, overlap_tokens: 40}
keep_staging: true
max_estimated_cost_usd: 2.5
max_prompts_per_refresh: 100000
key_prefix: [search, docs]
group_name: search
owners: [team:search]
tags: {tier: gold}
descriptions: {embeddings: Vectors of the docs.}
backend:
  type: vertex
  project: p
  staging_uri: gs://bucket/embed
  api_endpoint: http://127.0.0.1:1
  timeout_seconds: 5
  retry_attempts: 2
  cancel_superseded: false
"""
    )
    pipeline = full.pipeline(tmp_path)
    assert (pipeline.auto_truncate, pipeline.keep_staging) == (False, True)
    assert pipeline.chunking == Chunking(max_tokens=400, overlap_tokens=40)
    assert (pipeline.max_estimated_cost_usd, pipeline.max_prompts_per_refresh) == (2.5, 100_000)
    assert pipeline.corpus == str(tmp_path / "docs.jsonl")
    assert pipeline.embeddings_key == dg.AssetKey(["search", "docs", "embeddings"])
    backend = full.backend.build(tmp_path)
    assert isinstance(backend, VertexBatchBackend)
    assert (backend.timeout_seconds, backend.retry_attempts, backend.cancel_superseded) == (
        5,
        2,
        False,
    )
    assert backend.api_endpoint == "http://127.0.0.1:1"


def test_an_option_of_another_resource_type_is_refused_in_one_line(tmp_path: Path) -> None:
    component = EmbeddingPipelineComponent.resolve_from_yaml(
        "name: docs\ncorpus: docs.jsonl\nbackend: {type: local, staging_uri: 'gs://b/p'}\n"
    )
    with pytest.raises(ConfigError, match="backend type local takes no staging_uri"):
        component.backend.build(tmp_path)


def test_yaml_declares_a_model_the_library_does_not_list(tmp_path: Path) -> None:
    component = EmbeddingPipelineComponent.resolve_from_yaml(
        """
name: docs
corpus: docs.jsonl
model:
  name: text-embedding-yaml-7
  schema: gemini
  dimension: 1024
  min_dimensionality: 128
  max_input_tokens: 4096
  batch_locations: [us-central1]
  bigquery: false
  price_per_million_tokens: 0.1
  prompt_rule: inline
output_dimensionality: 256
"""
    )
    pipeline = component.pipeline(tmp_path)
    assert pipeline.resolved_model == "text-embedding-yaml-7" and pipeline.dimension == 256
    assert model_spec("text-embedding-yaml-7") == ModelSpec(
        name="text-embedding-yaml-7",
        schema=RequestSchema.GEMINI,
        dimension=1024,
        min_dimensionality=128,
        max_input_tokens=4096,
        batch_locations=("us-central1",),
        bigquery=False,
        price=BatchPrice(per_million_tokens=0.1),
        prompt_rule=PromptRule.INLINE,
    )
    properties = _schema()["properties"]["model"]
    assert "ModelSpec" in properties["description"]
