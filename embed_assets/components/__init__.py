"""The YAML face of `EmbeddingPipeline`: a Dagster Component and its scaffolder."""

from embed_assets.components.embedding_pipeline import (
    BackendConfig,
    EmbeddingPipelineComponent,
    StoreConfig,
)

__all__ = ["BackendConfig", "EmbeddingPipelineComponent", "StoreConfig"]
