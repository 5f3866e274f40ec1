"""`EmbeddingPipeline`: one corpus → batch job → sensor → embedding table, as Dagster definitions.

Every field of a pipeline is declared and documented here, once. The YAML Component derives
its schema from this class (`components.embedding_pipeline`), and the assets, checks and
sensors are built from it (`pipeline.assets`, `pipeline.checks`, `pipeline.sensor`).
"""

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from embed_assets.backends.base import BatchBackend
from embed_assets.corpus.bigquery_source import BigQueryQuery, read_bigquery_corpus
from embed_assets.corpus.chunk_rows import chunk_budget, prepared_corpus
from embed_assets.corpus.chunking import Chunking
from embed_assets.corpus.prepared import PreparedCorpus, write_prepared
from embed_assets.corpus.streams import prepare_in_batches, prepare_location, read_location
from embed_assets.corpus.validation import CorpusColumns, validate_corpus
from embed_assets.errors import ConfigError
from embed_assets.jobs.settings import SubmissionSettings
from embed_assets.models.catalog import ModelSpec, declare_model, model_spec, vector_dimension
from embed_assets.models.registry import default_local_model
from embed_assets.pipeline.assets import build_assets
from embed_assets.pipeline.automation import (
    build_automation_sensor,
    build_source_asset,
    build_source_sensor,
)
from embed_assets.pipeline.cron import CronSchedule
from embed_assets.pipeline.names import (
    ASSETS,
    BATCH_JOB_ASSET,
    CORPUS_ASSET,
    EMBEDDINGS_ASSET,
    SOURCE_ASSET,
    PipelineNames,
    check_pipeline_name,
    pipeline_names,
)
from embed_assets.pipeline.placement import Placement, check_placement, warehouse_gaps
from embed_assets.pipeline.sensor import build_embedding_job_sensor
from embed_assets.pipeline.translator import AssetSpecTranslator
from embed_assets.store.base import EmbeddingStore

CorpusSource = str | BigQueryQuery | Callable[[], pd.DataFrame] | dg.AssetKey


@dataclass(frozen=True, kw_only=True)
class EmbeddingPipeline:
    """One corpus kept embedded in one table, as Dagster assets, checks and sensors.

    Example:
        ```python
        pipeline = EmbeddingPipeline(name="docs", corpus="data/docs.jsonl", text_column="body")
        defs = pipeline.build_definitions(
            backend=LocalBatchBackend(), store=DuckDBEmbeddingStore()
        )
        ```

    Attributes:
        name: Pipeline name (letters, digits, `_`): the default asset key prefix and group,
            and the sensor, resource key and table names, all derive from it.
        corpus: A JSONL / CSV / Parquet path or `gs://` URI, a BigQuery table
            (`bq://project.dataset.table`) or `BigQueryQuery`, a function returning a
            DataFrame, or the key of an upstream asset whose value is a DataFrame.
        model: Embedding model, by name or (a model the library does not list) as a
            `ModelSpec`; defaults to all-MiniLM-L6-v2 when the `local` extra is installed, else
            the lexical hashing model.
        task_type: Sent with every prompt, e.g. `RETRIEVAL_DOCUMENT`.
        id_column: The corpus column holding unique row ids.
        text_column: The corpus column holding the text to embed.
        title_column: Optional column holding a title sent with each text.
        output_dimensionality: Requested vector length (None: the model's own).
        auto_truncate: Let the model cut long inputs (else such rows fail and are reported).
        chunking: Split each document into chunks within the model's input limit
            (`Chunking(max_tokens=..., overlap_tokens=...)`); the table then holds one row per
            chunk, `id` `<document id>#<chunk index>`, with `document_id`, `chunk_index`,
            `chunk_start` and `chunk_end`. None: one row per document.
        max_prompts_per_job: Prompts per batch job; defaults to the model's per-job limit.
        max_rejected_fraction: Above this fraction of rejected rows the corpus check fails and
            blocks the refresh: nothing is submitted or deleted.
        max_deleted_fraction: A refresh that would delete more than this fraction of the
            stored rows submits nothing and deletes nothing.
        max_estimated_cost_usd: A refresh whose estimated cost (list prices) is above this
            submits nothing and deletes nothing, unless its run allows it (run config
            `allow_over_budget`, CLI `--allow-over-budget`); None: no limit.
        max_prompts_per_refresh: The same limit on the prompts one refresh submits.
        min_coverage: The coverage check warns below this fraction of accepted rows embedded;
            after a change of model, dimension or task type, the new vectors replace the old
            ones only once they cover this fraction.
        sensor_interval_seconds: Seconds between sensor ticks.
        encoding: Text encoding of a CSV or JSONL corpus file.
        keep_staging: Keep request and prediction files after landing (default: they are
            deleted once landed; each submission's manifest is always kept).
        placement: Where the rows live: `"warehouse"` (BigQuery, with SQL), `"process"`, or
            `"auto"` (the warehouse when the resources a run has bound can, else the process,
            saying why in its log).
        automation_condition: When `corpus` and `embedding_batch_job` refresh by themselves
            (default `AutomationCondition.eager()`: as soon as the source changes; e.g.
            `AutomationCondition.on_cron("0 3 * * *")` for nightly; None: only on request).
        observe_cron: How often a corpus file, `gs://` object or BigQuery source is observed
            (a cheap fingerprint: size and mtime, generation and MD5, or the tables'
            last-modified times), a cron string in UTC; an observation is recorded, with no
            run, only when the source changed; None: never by itself.
        backend_key: Resource key of the batch backend (default `<name>_embedding_backend`).
        store_key: Resource key of the embedding store (default `<name>_embedding_store`).
        key_prefix: The asset keys' prefix (default: the name), e.g. `["search", "docs"]` for
            `search/docs/embeddings`; the sensor and the landing follow it.
        group_name: The asset group of every asset of the pipeline (default: the name).
        owners: Owners of every asset of the pipeline (`team:search`, `ana@example.com`).
        tags: Tags of every asset of the pipeline.
        descriptions: A description per asset, replacing the default one; keys are `source`,
            `corpus`, `embedding_batch_job` and `embeddings`.
        translator: An `AssetSpecTranslator` that changes anything else of each asset's spec
            (Python only; YAML uses Dagster's `post_processing`).
    """

    name: str
    corpus: CorpusSource
    model: str | ModelSpec | None = None
    task_type: str | None = "RETRIEVAL_DOCUMENT"
    id_column: str = "id"
    text_column: str = "content"
    title_column: str | None = None
    output_dimensionality: int | None = None
    auto_truncate: bool = True
    chunking: Chunking | None = None
    max_prompts_per_job: int | None = None
    max_rejected_fraction: float = 0.05
    max_deleted_fraction: float = 0.5
    max_estimated_cost_usd: float | None = None
    max_prompts_per_refresh: int | None = None
    min_coverage: float = 0.99
    sensor_interval_seconds: int = 30
    encoding: str = "utf-8"
    keep_staging: bool = False
    placement: Placement = "auto"
    automation_condition: dg.AutomationCondition | None = field(
        default_factory=dg.AutomationCondition.eager
    )
    observe_cron: str | None = "* * * * *"
    backend_key: str | None = None
    store_key: str | None = None
    key_prefix: Sequence[str] | str | None = None
    group_name: str | None = None
    owners: Sequence[str] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    descriptions: Mapping[str, str] = field(default_factory=dict)
    translator: AssetSpecTranslator | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        check_pipeline_name(self.name)  # refused here, where the user first gives it
        if isinstance(self.model, ModelSpec):
            declare_model(self.model)  # every part of the library now knows it by its name
        spec = model_spec(self.resolved_model)
        spec.check_dimensionality(self.output_dimensionality)
        if self.chunking is not None:
            chunk_budget(self.chunking, model=self.resolved_model)  # refuses a limit too high
        for count in ("max_prompts_per_job", "max_prompts_per_refresh"):
            if getattr(self, count) is not None and getattr(self, count) < 1:
                raise ConfigError(f"{count}={getattr(self, count)} must be at least 1")
        if self.max_estimated_cost_usd is not None and self.max_estimated_cost_usd < 0:
            raise ConfigError(
                f"max_estimated_cost_usd={self.max_estimated_cost_usd} must not be negative"
            )
        if self.observe_cron:
            CronSchedule.parse(self.observe_cron)  # refuses a schedule it cannot read
        check_placement(self.placement)
        for fraction in ("max_rejected_fraction", "max_deleted_fraction", "min_coverage"):
            if not 0.0 <= getattr(self, fraction) <= 1.0:
                raise ConfigError(f"{fraction}={getattr(self, fraction)} must be between 0 and 1")
        unknown = sorted(set(self.descriptions) - set(ASSETS))
        if unknown:
            raise ConfigError(
                f"descriptions names no asset of a pipeline: {', '.join(unknown)} (the assets are "
                f"{', '.join(ASSETS)})"
            )
        self.names  # noqa: B018  (checks key_prefix and group_name here, where they are given)

    # -- names and asset specs --------------------------------------------------------------

    @cached_property
    def names(self) -> PipelineNames:
        """Every name derived from the pipeline's name (asset prefix, group, sensor, table)."""
        prefix = [self.key_prefix] if isinstance(self.key_prefix, str) else self.key_prefix
        return pipeline_names(
            self.name,
            backend_key=self.backend_key,
            store_key=self.store_key,
            key_prefix=prefix,
            group_name=self.group_name,
        )

    def asset_spec(self, asset: str) -> dg.AssetSpec:
        """The spec of one of the pipeline's assets (`corpus`, ...), after the translator.

        Its key, group, owners, tags, description and automation condition are what the
        asset is built with; the sensor, the checks and the landing find it by this key.
        """
        return self._asset_specs[asset]

    @cached_property
    def _asset_specs(self) -> dict[str, dg.AssetSpec]:
        specs = {}
        for asset in ASSETS:
            refreshes = asset in (CORPUS_ASSET, BATCH_JOB_ASSET)
            spec = dg.AssetSpec(
                key=dg.AssetKey(self.names.asset_path(asset)),
                group_name=self.names.group,
                owners=list(self.owners),
                tags=dict(self.tags),
                description=self.descriptions.get(asset) or self._default_description(asset),
                automation_condition=self.automation_condition if refreshes else None,
            )
            specs[asset] = (
                self.translator.get_asset_spec(asset=asset, spec=spec) if self.translator else spec
            )
        return specs

    def _default_description(self, asset: str) -> str:
        if asset == SOURCE_ASSET:
            cron = self.observe_cron
            shown = self.corpus.sql if isinstance(self.corpus, BigQueryQuery) else self.corpus
            return (
                f"The corpus at {shown}, observed "
                + (f"on the schedule {cron!r}" if cron else "on request")
                + ": its data version changes whenever the source does."
            )
        if asset == CORPUS_ASSET:
            return (
                f"The corpus from {self.describe_source()}, normalized to id, content, title, "
                "with a content hash per row. Rows that cannot be embedded stay in the frame with "
                "the reason they were rejected."
            )
        if asset == BATCH_JOB_ASSET:
            return (
                "Submits batch embedding jobs for the rows the table lacks and returns at once; "
                "its metadata is the submission record the sensor follows. One run at a time "
                "plans and submits: a second one fails, naming the first (or waits, if the pool "
                "has a limit of 1)."
            )
        return (
            "The embedding table, updated from the latest submission's prediction files: new "
            "rows upserted, rows that left the corpus deleted, failed rows recorded. While the "
            "jobs run, a run of this asset lands nothing and succeeds (the sensor lands them)."
        )

    @property
    def corpus_key(self) -> dg.AssetKey:
        """Key of the corpus asset (`<prefix>/corpus`)."""
        return self.asset_spec(CORPUS_ASSET).key

    @property
    def source_key(self) -> dg.AssetKey | None:
        """Key of the observed corpus file, object or BigQuery source (`<prefix>/source`)."""
        if isinstance(self.corpus, str | BigQueryQuery):
            return self.asset_spec(SOURCE_ASSET).key
        return None

    @property
    def batch_job_key(self) -> dg.AssetKey:
        """Key of the batch-job asset (`<prefix>/embedding_batch_job`)."""
        return self.asset_spec(BATCH_JOB_ASSET).key

    @property
    def embeddings_key(self) -> dg.AssetKey:
        """Key of the embeddings asset (`<prefix>/embeddings`); depend on it downstream."""
        return self.asset_spec(EMBEDDINGS_ASSET).key

    @property
    def sensor_name(self) -> str:
        """Name of the job-completion sensor."""
        return self.names.sensor

    # -- what the pipeline reads and asks for --------------------------------------------------

    @property
    def resolved_model(self) -> str:
        """The name of the model in use, after applying the default."""
        if isinstance(self.model, ModelSpec):
            return self.model.name
        return self.model or default_local_model()

    @property
    def dimension(self) -> int:
        """Length of the vectors in the table."""
        return vector_dimension(self.resolved_model, self.output_dimensionality)

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
            chunked=self.chunking is not None,
        )

    def load_corpus(self, upstream: Any = None) -> pd.DataFrame:
        """Loads the raw corpus from its source (an upstream asset's frame, path or URI)."""
        if isinstance(self.corpus, dg.AssetKey):
            if upstream is None:
                raise ConfigError(f"corpus asset {self.corpus.to_user_string()} was not loaded")
            if isinstance(upstream, str | os.PathLike):
                return read_location(os.fspath(upstream), encoding=self.encoding)
            if not isinstance(upstream, pd.DataFrame):
                raise ConfigError(
                    f"corpus asset {self.corpus.to_user_string()} gave a "
                    f"{type(upstream).__name__}; it should give a pandas DataFrame, or the path "
                    "or URI of a Parquet, JSONL or CSV file (or a bq:// table)"
                )
            return upstream
        if isinstance(self.corpus, BigQueryQuery):
            return read_bigquery_corpus(self.corpus)
        if isinstance(self.corpus, str):
            return read_location(self.corpus, encoding=self.encoding)
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

    def prepare_source(self, upstream: Any = None) -> pd.DataFrame:
        """Loads the corpus and prepares it (`load_corpus`, then `prepare`), as one frame."""
        return self.prepare(self.load_corpus(upstream))

    def prepare_file(self, path: Path, *, upstream: Any = None) -> PreparedCorpus:
        """Loads and prepares the corpus into the Parquet file `path` (what the corpus asset does).

        Files are read a batch of documents at a time: a local Parquet corpus with
        `corpus.batches.prepare_parquet` (its texts stay in it), JSONL and CSV, local or on
        Cloud Storage (downloaded to a temporary file first), with
        `corpus.streams.prepare_in_batches`. An upstream asset may give a frame (written a
        slice at a time) or, for a large corpus, the path or URI of such a file. BigQuery and
        function sources are read whole, then written. The rows are the same either way.
        """
        options: dict[str, Any] = {
            "output": path,
            "columns": self.columns,
            "source": self.describe_source(),
            "chunking": self.chunking,
            "model": self.resolved_model,
            "task_type": self.task_type,
            "output_dimensionality": self.output_dimensionality,
        }
        if isinstance(self.corpus, dg.AssetKey):
            if isinstance(upstream, str | os.PathLike):
                location = os.fspath(upstream)
                return prepare_location(location, self.prepare, encoding=self.encoding, **options)
            return prepare_in_batches(None, frame=self.load_corpus(upstream), **options)
        if isinstance(self.corpus, str):
            return prepare_location(self.corpus, self.prepare, encoding=self.encoding, **options)
        return write_prepared(self.prepare_source(upstream), path)

    def prepare(self, raw: pd.DataFrame) -> pd.DataFrame:
        """Validates, hashes and (with `chunking`) splits a raw corpus.

        See `corpus.hashing.normalized_corpus` and `corpus.chunk_rows.chunk_corpus`.
        """
        return prepared_corpus(
            validate_corpus(raw, self.columns, source=self.describe_source()),
            chunking=self.chunking,
            model=self.resolved_model,
            task_type=self.task_type,
            output_dimensionality=self.output_dimensionality,
        )

    # -- Dagster definitions -------------------------------------------------------------------

    def build_definitions(
        self, *, backend: BatchBackend | None = None, store: EmbeddingStore | None = None
    ) -> dg.Definitions:
        """Builds the assets, asset checks and sensors of this pipeline.

        Args:
            backend: the batch backend resource, bound to `backend_key` (omit it to bind it
                yourself, e.g. once for several pipelines in `dg.Definitions(resources=...)`:
                where the rows live is decided from the resources a run has, either way).
            store: the embedding store resource, bound to `store_key`.
        """
        resources: dict[str, Any] = {}
        if backend is not None:
            resources[self.names.backend_key] = backend
        if store is not None:
            resources[self.names.store_key] = store
        source = build_source_asset(self)
        automation = build_automation_sensor(self)
        observer = build_source_sensor(self)
        return dg.Definitions(
            assets=[
                *([source] if source else []),
                *build_assets(
                    self,
                    backend_kind=getattr(type(backend), "kind", None),
                    store_kind=getattr(type(store), "kind", None),
                    in_warehouse=self.placement == "warehouse"
                    or (self.placement == "auto" and not warehouse_gaps(self, backend, store)),
                ),
            ],
            sensors=[
                build_embedding_job_sensor(
                    job_asset_key=self.batch_job_key,
                    embeddings_key=self.embeddings_key,
                    backend_key=self.names.backend_key,
                    minimum_interval_seconds=self.sensor_interval_seconds,
                    name=self.names.sensor,
                ),
                *([automation] if automation else []),
                *([observer] if observer else []),
            ],
            resources=resources,
        )


def pipeline_fields() -> list[dataclasses.Field[Any]]:
    """The pipeline's fields, in declaration order (the Component mirrors every one)."""
    return list(dataclasses.fields(EmbeddingPipeline))
