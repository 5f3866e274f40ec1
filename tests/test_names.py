"""One naming rule: a pipeline's name gives every derived name, and a bad name is refused early."""

import pytest

from embed_assets import EmbeddingPipeline
from embed_assets.pipeline.names import pipeline_names


def test_every_name_derives_from_the_pipeline_name() -> None:
    """Asset prefix, group, sensor, resource keys and table come from one function."""
    names = pipeline_names("Docs_2")
    assert (names.asset_prefix, names.group, names.sensor, names.table) == (
        "Docs_2",
        "Docs_2",
        "Docs_2_batch_job_sensor",
        "docs_2",
    )
    assert (names.backend_key, names.store_key) == (
        "Docs_2_embedding_backend",
        "Docs_2_embedding_store",
    )
    assert pipeline_names("9lives").table == "t_9lives"


def test_the_pipeline_uses_the_naming_rule() -> None:
    """The spec's keys and sensor name are the naming rule's."""
    pipeline = EmbeddingPipeline(name="docs", corpus="docs.jsonl", model="lexical-hash")
    assert pipeline.corpus_key.path == ["docs", "corpus"]
    assert pipeline.embeddings_key.path == ["docs", "embeddings"]
    assert pipeline.sensor_name == pipeline.names.sensor == "docs_batch_job_sensor"


@pytest.mark.parametrize("name", ["my-docs", "", "docs v2", "ünï", "x" * 64])
def test_a_name_dagster_would_reject_is_refused_at_construction(name: str) -> None:
    """The message says what is allowed (and suggests a fix where one exists)."""
    with pytest.raises(ValueError, match="letters, digits and underscores"):
        EmbeddingPipeline(name=name, corpus="docs.jsonl", model="lexical-hash")


def test_the_refusal_suggests_a_valid_name() -> None:
    """`my-docs` is refused with `my_docs` suggested."""
    with pytest.raises(ValueError, match="try 'my_docs'"):
        EmbeddingPipeline(name="my-docs", corpus="docs.jsonl", model="lexical-hash")
