"""`PipelineView`: what the asset, check and sensor builders read of a pipeline.

`EmbeddingPipeline` builds them and satisfies this protocol; the builders type against it, so
they need not import the class that imports them.
"""

from pathlib import Path
from typing import Protocol

import dagster as dg
import pandas as pd

from embed_assets.corpus.chunking import Chunking
from embed_assets.corpus.prepared import PreparedCorpus
from embed_assets.corpus.validation import CorpusColumns
from embed_assets.jobs.settings import SubmissionSettings
from embed_assets.pipeline.names import PipelineNames


class PipelineView(Protocol):
    """The parts of an `EmbeddingPipeline` its assets, checks and sensors are built from."""

    @property
    def name(self) -> str: ...  # noqa: D102

    @property
    def corpus(self) -> object: ...  # noqa: D102

    @property
    def task_type(self) -> str | None: ...  # noqa: D102

    @property
    def output_dimensionality(self) -> int | None: ...  # noqa: D102

    @property
    def chunking(self) -> Chunking | None: ...  # noqa: D102

    @property
    def max_rejected_fraction(self) -> float: ...  # noqa: D102

    @property
    def max_deleted_fraction(self) -> float: ...  # noqa: D102

    @property
    def max_estimated_cost_usd(self) -> float | None: ...  # noqa: D102

    @property
    def max_prompts_per_refresh(self) -> int | None: ...  # noqa: D102

    @property
    def min_coverage(self) -> float: ...  # noqa: D102

    @property
    def sensor_interval_seconds(self) -> int: ...  # noqa: D102

    @property
    def keep_staging(self) -> bool: ...  # noqa: D102

    @property
    def placement(self) -> str: ...  # noqa: D102

    @property
    def automation_condition(self) -> dg.AutomationCondition | None: ...  # noqa: D102

    @property
    def observe_cron(self) -> str | None: ...  # noqa: D102

    @property
    def names(self) -> PipelineNames: ...  # noqa: D102

    @property
    def corpus_key(self) -> dg.AssetKey: ...  # noqa: D102

    @property
    def source_key(self) -> dg.AssetKey | None: ...  # noqa: D102

    @property
    def batch_job_key(self) -> dg.AssetKey: ...  # noqa: D102

    @property
    def embeddings_key(self) -> dg.AssetKey: ...  # noqa: D102

    @property
    def resolved_model(self) -> str: ...  # noqa: D102

    @property
    def dimension(self) -> int: ...  # noqa: D102

    @property
    def columns(self) -> CorpusColumns: ...  # noqa: D102

    @property
    def submission_settings(self) -> SubmissionSettings: ...  # noqa: D102

    def asset_spec(self, asset: str) -> dg.AssetSpec: ...  # noqa: D102

    def describe_source(self) -> str: ...  # noqa: D102

    def load_corpus(self, upstream: pd.DataFrame | None = None) -> pd.DataFrame: ...  # noqa: D102

    def prepare(self, raw: pd.DataFrame) -> pd.DataFrame: ...  # noqa: D102

    def prepare_source(self, upstream: pd.DataFrame | None = None) -> pd.DataFrame: ...  # noqa: D102

    def prepare_file(  # noqa: D102
        self, path: Path, *, upstream: pd.DataFrame | None = None
    ) -> PreparedCorpus: ...
