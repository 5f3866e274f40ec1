"""The model registry: every fact of a model in one place; a model it lacks is declared once."""

import pytest

from embed_assets import EmbeddingPipeline, ModelSpec
from embed_assets.errors import ConfigError
from embed_assets.models.catalog import SHIPPED, declare_model, known_models, model_spec


def test_the_shipped_models_are_entries_of_the_registry() -> None:
    names = [spec.name for spec in known_models()]
    assert names[: len(SHIPPED)] == [spec.name for spec in SHIPPED]
    assert "gemini-embedding-2" in names and "text-embedding-005" in names
    assert model_spec("publishers/google/models/gemini-embedding-001").bills_tokens


def test_a_pipeline_declares_its_model_and_every_part_then_finds_it() -> None:
    spec = ModelSpec(name="catalog-test-model-1", schema="legacy", dimension=64)
    pipeline = EmbeddingPipeline(name="docs", corpus="docs.jsonl", model=spec)
    assert pipeline.resolved_model == "catalog-test-model-1" and pipeline.dimension == 64
    assert model_spec("catalog-test-model-1") is spec
    EmbeddingPipeline(name="other", corpus="docs.jsonl", model=spec)  # the same facts: fine


def test_a_model_is_declared_once_and_a_shipped_one_is_not_redeclared() -> None:
    declare_model(ModelSpec(name="catalog-test-model-2", schema="gemini", dimension=8))
    with pytest.raises(ConfigError, match=r"declared once with other facts \(dimension=16"):
        declare_model(ModelSpec(name="catalog-test-model-2", schema="gemini", dimension=16))
    with pytest.raises(ConfigError, match="shipped with the library with other facts"):
        declare_model(ModelSpec(name="text-embedding-005", schema="legacy", dimension=32))
    with pytest.raises(ConfigError, match="the local backend runs only the library's own"):
        declare_model(ModelSpec(name="my-local", schema="legacy", dimension=8, local=True))
    with pytest.raises(ConfigError, match="schema='yaml': choose one of legacy, gemini"):
        ModelSpec(name="x", schema="yaml", dimension=8)  # type: ignore[arg-type]
