"""`EmbeddingPipelineComponent`: one embedding pipeline declared in a `defs.yaml`.

The fields mirror `EmbeddingPipeline`'s and resolve into the same object, so a YAML pipeline
and a Python one build the same assets, checks and sensors. The embedding model's field is
`embedding_model`: a field named `model` would shadow `Resolvable.model()`.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import dagster as dg

from embed_assets.backends.base import BatchBackend
from embed_assets.backends.local.resource import LocalBatchBackend
from embed_assets.backends.vertex import VertexBatchBackend
from embed_assets.components.scaffolder import EmbeddingPipelineScaffolder
from embed_assets.errors import ConfigError
from embed_assets.pipeline.embedding_pipeline import EmbeddingPipeline
from embed_assets.store.base import EmbeddingStore
from embed_assets.store.bigquery import BigQueryEmbeddingStore
from embed_assets.store.duckdb import DuckDBEmbeddingStore


@dataclass
class BackendConfig(dg.Resolvable):
    """Where the batch jobs run.

    Attributes:
        type: `local` (jobs on this machine) or `vertex` (Vertex AI batch prediction).
        workdir: the local backend's folder for job records and staging.
        max_running_jobs: local jobs run at once; the rest wait in PENDING.
        project: the Google Cloud project of Vertex jobs.
        location: the Vertex AI region.
        staging_uri: the `gs://` prefix for request and prediction files, or a `bq://project.dataset`
            for prompts and prediction tables.
    """

    type: Literal["local", "vertex"] = "local"
    workdir: str = ".embed-assets"
    max_running_jobs: int = 1
    project: str | None = None
    location: str = "us-central1"
    staging_uri: str | None = None

    def build(self, root: Path) -> BatchBackend:
        """Returns the backend resource; a relative workdir is below `root`."""
        if self.type == "local":
            return LocalBatchBackend(
                workdir=str(root / self.workdir), max_running_jobs=self.max_running_jobs
            )
        if not self.project or not self.staging_uri:
            raise ConfigError("backend type vertex needs project and staging_uri")
        return VertexBatchBackend(
            project=self.project, location=self.location, staging_uri=self.staging_uri
        )


@dataclass
class StoreConfig(dg.Resolvable):
    """Where the embedding table lives.

    Attributes:
        type: `duckdb` (a DuckDB file) or `bigquery` (a BigQuery dataset).
        path: the DuckDB file; a relative path is below the component's folder.
        project: the Google Cloud project of the BigQuery dataset.
        dataset: the BigQuery dataset (created if missing).
        location: the BigQuery location of the dataset (None: BigQuery's default).
    """

    type: Literal["duckdb", "bigquery"] = "duckdb"
    path: str = ".embed-assets/embeddings.duckdb"
    project: str | None = None
    dataset: str | None = None
    location: str | None = None

    def build(self, root: Path) -> EmbeddingStore:
        """Returns the store resource."""
        if self.type == "bigquery":
            if not self.project or not self.dataset:
                raise ConfigError("store type bigquery needs project and dataset")
            return BigQueryEmbeddingStore(
                project=self.project, dataset=self.dataset, location=self.location
            )
        return DuckDBEmbeddingStore(path=str(root / self.path))


@dg.scaffold_with(EmbeddingPipelineScaffolder)
@dataclass
class EmbeddingPipelineComponent(dg.Component, dg.Resolvable):
    """A corpus kept embedded in a table by batch embedding jobs, as assets, checks and sensors.

    `dg scaffold defs embed_assets.EmbeddingPipelineComponent <name>` writes a `defs.yaml` to
    start from. Each field is described on `EmbeddingPipeline`; a relative `corpus` path, backend
    `workdir` or store `path` is taken from the component's folder.
    """

    name: str
    corpus: str
    id_column: str = "id"
    text_column: str = "content"
    title_column: str | None = None
    embedding_model: str | None = None
    task_type: str | None = "RETRIEVAL_DOCUMENT"
    output_dimensionality: int | None = None
    max_prompts_per_job: int | None = None
    max_rejected_fraction: float = 0.05
    max_deleted_fraction: float = 0.5
    min_coverage: float = 0.99
    sensor_interval_seconds: int = 30
    encoding: str = "utf-8"
    observe_cron: str | None = "* * * * *"
    automation_condition: Annotated[
        dg.AutomationCondition | None,
        dg.Resolver.default(
            model_field_type=str | None,
            description="When corpus and batch job refresh by themselves, e.g. "
            "'{{ automation_condition.on_cron(\"0 3 * * *\") }}' (default: eager).",
        ),
    ] = field(default_factory=dg.AutomationCondition.eager)
    backend: BackendConfig = field(default_factory=BackendConfig)
    store: StoreConfig = field(default_factory=StoreConfig)

    def pipeline(self, root: Path) -> EmbeddingPipeline:
        """The `EmbeddingPipeline` these fields describe."""
        corpus = self.corpus
        if "://" not in corpus and not Path(corpus).is_absolute():
            corpus = str(root / corpus)
        return EmbeddingPipeline(
            name=self.name,
            corpus=corpus,
            model=self.embedding_model,
            task_type=self.task_type,
            id_column=self.id_column,
            text_column=self.text_column,
            title_column=self.title_column,
            output_dimensionality=self.output_dimensionality,
            max_prompts_per_job=self.max_prompts_per_job,
            max_rejected_fraction=self.max_rejected_fraction,
            max_deleted_fraction=self.max_deleted_fraction,
            min_coverage=self.min_coverage,
            sensor_interval_seconds=self.sensor_interval_seconds,
            encoding=self.encoding,
            observe_cron=self.observe_cron,
            automation_condition=self.automation_condition,
        )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """Builds the pipeline's assets, checks and sensors with its own resources."""
        root = Path(context.path)
        return self.pipeline(root).build_definitions(
            backend=self.backend.build(root), store=self.store.build(root)
        )
