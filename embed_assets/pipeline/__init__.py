"""The Dagster face of one pipeline: the spec, its assets, checks, sensor and metadata."""

from embed_assets.pipeline.cursor import JobSensorCursor, SensorOutcome, read_cursor
from embed_assets.pipeline.embedding_pipeline import EmbeddingPipeline
from embed_assets.pipeline.sensor import build_embedding_job_sensor
from embed_assets.pipeline.spec import PipelineSpec

__all__ = [
    "EmbeddingPipeline",
    "JobSensorCursor",
    "PipelineSpec",
    "SensorOutcome",
    "build_embedding_job_sensor",
    "read_cursor",
]
