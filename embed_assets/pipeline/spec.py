"""`PipelineSpec`: what one pipeline is (its corpus, model and limits) and every derived name.

`EmbeddingPipeline` adds the Dagster definitions on top; the assets, the checks and the
sensor are built from this spec alone.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
import pandas as pd

from embed_assets.bigquery.client import is_bigquery_uri
from embed_assets.corpus.bigquery import BigQueryQuery, read_bigquery_corpus
from embed_assets.corpus.hashing import normalized_corpus
from embed_assets.corpus.sources import read_corpus_file
from embed_assets.corpus.validation import CorpusColumns, validate_corpus
from embed_assets.errors import ConfigError
from embed_assets.jobs.settings import SubmissionSettings
from embed_assets.models.catalog import model_spec, vector_dimension
from embed_assets.models.registry import default_local_model
from embed_assets.pipeline.names import (
    BATCH_JOB_ASSET,
    CORPUS_ASSET,
    EMBEDDINGS_ASSET,
    SOURCE_ASSET,
    PipelineNames,
    check_pipeline_name,
    pipeline_names,
)

CorpusSource = str | BigQueryQuery | Callable[[], pd.DataFrame] | dg.AssetKey


@dataclass(frozen=True, kw_only=True)
class PipelineSpec:
    """One corpus kept embedded in one table: its source, columns, model and limits.

    Attributes:
        name: pipeline name (letters, digits, `_`): the asset key prefix, group, sensor and
            table name all derive from it.
        corpus: a JSONL / CSV / Parquet path or `gs://` URI, a BigQuery table
            (`bq://project.dataset.table`) or `BigQueryQuery`, a function returning a
            DataFrame, or the key of an upstream asset whose value is a DataFrame.
        model: embedding model; defaults to all-MiniLM-L6-v2 when the `local` extra is
            installed, else the lexical hashing model.
        task_type: sent with every prompt, e.g. `RETRIEVAL_DOCUMENT`.
        id_column: the corpus column holding unique row ids.
        text_column: the corpus column holding the text to embed.
        title_column: optional column holding a title sent with each text.
        output_dimensionality: requested vector length (None: the model's own).
        auto_truncate: let the model cut long inputs (else such rows fail and are reported).
        max_prompts_per_job: prompts per batch job; defaults to the model's per-job limit.
        max_rejected_fraction: above this fraction of rejected rows the corpus check fails and
            blocks the refresh: nothing is submitted or deleted.
        max_deleted_fraction: a refresh that would delete more than this fraction of the
            stored rows submits nothing and deletes nothing.
        min_coverage: the coverage check warns below this fraction of accepted rows embedded;
            after a change of model, dimension or task type, the new vectors replace the old
            ones only once they cover this fraction.
        sensor_interval_seconds: seconds between sensor ticks.
        encoding: text encoding of a CSV or JSONL corpus file.
        keep_staging: keep request and prediction files after landing (default: they are
            deleted once landed; each submission's manifest is always kept).
        automation_condition: when `corpus` and `embedding_batch_job` refresh by themselves
            (default `AutomationCondition.eager()`: as soon as the source changes; e.g.
            `AutomationCondition.on_cron("0 3 * * *")` for nightly; None: only on request).
        observe_cron: how often a corpus file, `gs://` object or BigQuery source is observed
            (a cheap fingerprint: size and mtime, generation and MD5, or the tables'
            last-modified times); None: never by itself.
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
    max_deleted_fraction: float = 0.5
    min_coverage: float = 0.99
    sensor_interval_seconds: int = 30
    encoding: str = "utf-8"
    keep_staging: bool = False
    automation_condition: dg.AutomationCondition | None = field(
        default_factory=dg.AutomationCondition.eager
    )
    observe_cron: str | None = "* * * * *"
    backend_key: str | None = None
    store_key: str | None = None

    def __post_init__(self) -> None:
        check_pipeline_name(self.name)  # refused here, where the user first gives it
        spec = model_spec(self.resolved_model)
        spec.check_dimensionality(self.output_dimensionality)
        if self.max_prompts_per_job is not None and self.max_prompts_per_job < 1:
            raise ConfigError(f"max_prompts_per_job={self.max_prompts_per_job} must be at least 1")
        for fraction in ("max_rejected_fraction", "max_deleted_fraction", "min_coverage"):
            if not 0.0 <= getattr(self, fraction) <= 1.0:
                raise ConfigError(f"{fraction}={getattr(self, fraction)} must be between 0 and 1")

    @property
    def names(self) -> PipelineNames:
        """Every name derived from the pipeline's name (asset prefix, group, sensor, table)."""
        return pipeline_names(self.name, backend_key=self.backend_key, store_key=self.store_key)

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
        return dg.AssetKey(self.names.asset_path(CORPUS_ASSET))

    @property
    def source_key(self) -> dg.AssetKey | None:
        """Key of the observed corpus file, object or BigQuery source (`<name>/source`)."""
        if isinstance(self.corpus, str | BigQueryQuery):
            return dg.AssetKey(self.names.asset_path(SOURCE_ASSET))
        return None

    @property
    def batch_job_key(self) -> dg.AssetKey:
        """Key of the batch-job asset (`<name>/embedding_batch_job`)."""
        return dg.AssetKey(self.names.asset_path(BATCH_JOB_ASSET))

    @property
    def embeddings_key(self) -> dg.AssetKey:
        """Key of the embeddings asset (`<name>/embeddings`); depend on it downstream."""
        return dg.AssetKey(self.names.asset_path(EMBEDDINGS_ASSET))

    @property
    def sensor_name(self) -> str:
        """Name of the job-completion sensor."""
        return self.names.sensor

    @property
    def columns(self) -> CorpusColumns:
        """The corpus columns in use."""
        return CorpusColumns(self.id_column, self.text_column, self.title_column)

    @property
    def submission_settings(self) -> SubmissionSettings:
        """What every submission of this pipeline asks for."""
        return SubmissionSettings(
            pipeline=self.name,
            model=self.resolved_model,
            task_type=self.task_type,
            output_dimensionality=self.output_dimensionality,
            auto_truncate=self.auto_truncate,
            max_prompts_per_job=self.max_prompts_per_job,
            keep_staging=self.keep_staging,
        )

    def load_corpus(self, upstream: pd.DataFrame | None = None) -> pd.DataFrame:
        """Loads the raw corpus from its source."""
        if isinstance(self.corpus, dg.AssetKey):
            if upstream is None:
                raise ConfigError(f"corpus asset {self.corpus.to_user_string()} was not loaded")
            return upstream
        if isinstance(self.corpus, BigQueryQuery):
            return read_bigquery_corpus(self.corpus)
        if isinstance(self.corpus, str) and is_bigquery_uri(self.corpus):
            return read_bigquery_corpus(self.corpus)
        if isinstance(self.corpus, str):
            return read_corpus_file(self.corpus, encoding=self.encoding)
        return self.corpus()

    def describe_source(self) -> str:
        """A short description of the corpus source for messages."""
        if isinstance(self.corpus, dg.AssetKey):
            return f"asset {self.corpus.to_user_string()}"
        if isinstance(self.corpus, str):
            return self.corpus
        if isinstance(self.corpus, BigQueryQuery):
            return self.corpus.describe()
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
