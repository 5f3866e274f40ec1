"""`EmbeddingPipeline`: one corpus → batch job → sensor → embedding table, as Dagster definitions."""

from dataclasses import dataclass
from typing import Any

import dagster as dg

from embed_assets.backends.base import BatchBackend
from embed_assets.pipeline.assets import build_assets
from embed_assets.pipeline.automation import build_automation_sensor, build_source_asset
from embed_assets.pipeline.checks import build_embeddings_checks
from embed_assets.pipeline.sensor import build_embedding_job_sensor
from embed_assets.pipeline.spec import PipelineSpec
from embed_assets.pipeline.warehouse import row_placement, warehouse_staging
from embed_assets.store.base import EmbeddingStore


@dataclass(frozen=True, kw_only=True)
class EmbeddingPipeline(PipelineSpec):
    """One corpus kept embedded in one table, as Dagster assets, checks and a sensor.

    Every field is described on `PipelineSpec`.

    Example:
        ```python
        pipeline = EmbeddingPipeline(name="docs", corpus="data/docs.jsonl", text_column="body")
        defs = pipeline.build_definitions(
            backend=LocalBatchBackend(), store=DuckDBEmbeddingStore()
        )
        ```
    """

    def build_definitions(
        self, *, backend: BatchBackend | None = None, store: EmbeddingStore | None = None
    ) -> dg.Definitions:
        """Builds the assets, asset checks and sensor of this pipeline.

        Args:
            backend: the batch backend resource, bound to `backend_key` (omit it to bind it
                yourself, e.g. once for several pipelines).
            store: the embedding store resource, bound to `store_key`.
        """
        resources: dict[str, Any] = {}
        if backend is not None:
            resources[self.names.backend_key] = backend
        if store is not None:
            resources[self.names.store_key] = store
        source = build_source_asset(self)
        automation = build_automation_sensor(self)
        return dg.Definitions(
            assets=[
                *([source] if source else []),
                *build_assets(
                    self,
                    backend_kind=getattr(type(backend), "kind", None),
                    store_kind=getattr(type(store), "kind", None),
                    warehouse_staging=warehouse_staging(self, backend, store),
                    placement=row_placement(self, backend, store),
                ),
            ],
            asset_checks=[build_embeddings_checks(self)],
            sensors=[
                build_embedding_job_sensor(
                    job_asset_key=self.batch_job_key,
                    embeddings_key=self.embeddings_key,
                    backend_key=self.names.backend_key,
                    minimum_interval_seconds=self.sensor_interval_seconds,
                    name=self.names.sensor,
                ),
                *([automation] if automation else []),
            ],
            resources=resources,
        )
