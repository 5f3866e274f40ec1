"""The YAML face of `EmbeddingPipeline`: a Dagster Component and its scaffolder."""
