"""`EmbeddingPipeline`: one corpus → batch job → sensor → embedding table, as Dagster definitions."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pandas as pd

from embed_assets.backends.base import BatchBackend
from embed_assets.catalog import model_spec, vector_dimension
from embed_assets.corpus import CorpusColumns, normalized_corpus, read_corpus_file, validate_corpus
from embed_assets.models.registry import default_local_model
from embed_assets.sensor import build_embedding_job_sensor
from embed_assets.store.base import EmbeddingStore

CorpusSource = str | Callable[[], pd.DataFrame] | dg.AssetKey


@dataclass(frozen=True, kw_only=True)
class EmbeddingPipeline:
    """One corpus kept embedded in one table, as Dagster assets, checks and a sensor.

    Example:
        ```python
        pipeline = EmbeddingPipeline(name="docs", corpus="data/docs.jsonl", text_column="body")
        defs = pipeline.build_definitions(
            backend=LocalBatchBackend(), store=DuckDBEmbeddingStore()
        )
        ```

    Attributes:
        name: pipeline name; the asset key prefix, group name and table name.
        corpus: a JSONL / CSV / Parquet path or `gs://` URI, a function returning a DataFrame,
            or the key of an upstream asset whose value is a DataFrame.
        model: embedding model; defaults to all-MiniLM-L6-v2 when the `local` extra is
            installed, else the lexical hashing model.
        task_type: sent with every prompt, e.g. `RETRIEVAL_DOCUMENT`.
        id_column: the corpus column holding unique row ids.
        text_column: the corpus column holding the text to embed.
        title_column: optional column holding a title sent with each text.
        output_dimensionality: requested vector length (None: the model's own).
        auto_truncate: let the model cut long inputs (else such rows fail and are reported).
        max_prompts_per_job: prompts per batch job; defaults to the model's per-job limit.
        max_rejected_fraction: the corpus check fails above this fraction of rejected rows.
        min_coverage: the coverage check warns below this fraction of accepted rows embedded.
        sensor_interval_seconds: seconds between sensor ticks.
        backend_key: resource key of the batch backend.
        store_key: resource key of the embedding store.
    """

    name: str
    corpus: CorpusSource
    model: str | None = None
    task_type: str | None = "RETRIEVAL_DOCUMENT"
    id_column: str = "id"
    text_column: str = "content"
    title_column: str | None = None
    output_dimensionality: int | None = None
    auto_truncate: bool = True
    max_prompts_per_job: int | None = None
    max_rejected_fraction: float = 0.05
    min_coverage: float = 0.99
    sensor_interval_seconds: int = 30
    backend_key: str = "embedding_backend"
    store_key: str = "embedding_store"

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"name={self.name!r}: use letters, digits, '_' and '-'")
        spec = model_spec(self.resolved_model)
        spec.check_dimensionality(self.output_dimensionality)
        if self.max_prompts_per_job is not None and self.max_prompts_per_job < 1:
            raise ValueError(f"max_prompts_per_job={self.max_prompts_per_job} must be at least 1")

    @property
    def resolved_model(self) -> str:
        """The model in use, after applying the default."""
        return self.model or default_local_model()

    @property
    def dimension(self) -> int:
        """Length of the vectors in the table."""
        return vector_dimension(self.resolved_model, self.output_dimensionality)

    @property
    def corpus_key(self) -> dg.AssetKey:
        """Key of the corpus asset (`<name>/corpus`)."""
        return dg.AssetKey([self.name, "corpus"])

    @property
    def batch_job_key(self) -> dg.AssetKey:
        """Key of the batch-job asset (`<name>/embedding_batch_job`)."""
        return dg.AssetKey([self.name, "embedding_batch_job"])

    @property
    def embeddings_key(self) -> dg.AssetKey:
        """Key of the embeddings asset (`<name>/embeddings`); depend on it downstream."""
        return dg.AssetKey([self.name, "embeddings"])

    @property
    def sensor_name(self) -> str:
        """Name of the job-completion sensor."""
        return f"{self.name.replace('-', '_')}_batch_job_sensor"

    @property
    def columns(self) -> CorpusColumns:
        """The corpus columns in use."""
        return CorpusColumns(self.id_column, self.text_column, self.title_column)

    def build_definitions(
        self, *, backend: BatchBackend | None = None, store: EmbeddingStore | None = None
    ) -> dg.Definitions:
        """Builds the assets, asset checks and sensor of this pipeline.

        Args:
            backend: the batch backend resource, bound to `backend_key` (omit it to bind it
                yourself, e.g. once for several pipelines).
            store: the embedding store resource, bound to `store_key`.
        """
        from embed_assets.assets import build_assets

        resources: dict[str, Any] = {}
        if backend is not None:
            resources[self.backend_key] = backend
        if store is not None:
            resources[self.store_key] = store
        return dg.Definitions(
            assets=build_assets(self),
            sensors=[
                build_embedding_job_sensor(
                    job_asset_key=self.batch_job_key,
                    embeddings_key=self.embeddings_key,
                    backend_key=self.backend_key,
                    minimum_interval_seconds=self.sensor_interval_seconds,
                    name=self.sensor_name,
                )
            ],
            resources=resources,
        )

    def load_corpus(self, upstream: pd.DataFrame | None = None) -> pd.DataFrame:
        """Loads the raw corpus from its source."""
        if isinstance(self.corpus, dg.AssetKey):
            if upstream is None:
                raise ValueError(f"corpus asset {self.corpus.to_user_string()} was not loaded")
            return upstream
        if isinstance(self.corpus, str):
            return read_corpus_file(self.corpus)
        return self.corpus()

    def describe_source(self) -> str:
        """A short description of the corpus source for messages."""
        if isinstance(self.corpus, dg.AssetKey):
            return f"asset {self.corpus.to_user_string()}"
        if isinstance(self.corpus, str):
            return self.corpus
        return getattr(self.corpus, "__name__", "corpus function")

    def prepare(self, raw: pd.DataFrame) -> pd.DataFrame:
        """Validates and hashes a raw corpus (see `corpus.normalized_corpus`)."""
        validated = validate_corpus(raw, self.columns, source=self.describe_source())
        return normalized_corpus(
            validated,
            model=self.resolved_model,
            task_type=self.task_type,
            output_dimensionality=self.output_dimensionality,
        )
