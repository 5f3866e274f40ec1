"""The YAML Component with everything in BigQuery: it builds the warehouse-native pipeline."""

from pathlib import Path

import pytest

from embed_assets import BigQueryEmbeddingStore, VertexBatchBackend
from embed_assets.components.embedding_pipeline import EmbeddingPipelineComponent
from embed_assets.pipeline.placement import choose_placement

YAML = """
name: docs
corpus: bq://my-project.raw.docs
id_column: doc_id
text_column: body
model: text-embedding-005
backend:
  type: vertex
  project: my-project
  staging_uri: bq://my-project.embed_staging
store:
  type: bigquery
  project: my-project
  dataset: embeddings
"""


def test_yaml_with_bigquery_corpus_staging_and_store_is_warehouse_native(tmp_path: Path) -> None:
    component = EmbeddingPipelineComponent.resolve_from_yaml(YAML)
    pipeline = component.pipeline(tmp_path)
    backend = component.backend.build(tmp_path)
    store = component.store.build(tmp_path)
    assert pipeline.corpus == "bq://my-project.raw.docs"  # not taken as a path below the folder
    assert isinstance(backend, VertexBatchBackend) and isinstance(store, BigQueryEmbeddingStore)
    assert (store.project, store.dataset) == ("my-project", "embeddings")
    assert choose_placement(pipeline, backend, store).staging == "bq://my-project.embed_staging"


def test_a_bigquery_store_without_a_dataset_is_refused_naming_the_fields(tmp_path: Path) -> None:
    component = EmbeddingPipelineComponent.resolve_from_yaml(
        YAML.replace("  dataset: embeddings\n", "")
    )
    with pytest.raises(ValueError, match="store type bigquery needs project and dataset"):
        component.store.build(tmp_path)
