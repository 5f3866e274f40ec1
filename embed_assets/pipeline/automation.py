"""Lineage-driven refresh: the observed corpus source and the sensor that acts on it.

A corpus file, `gs://` object or BigQuery source is an observable source asset whose data
version is a cheap fingerprint (size and mtime, generation and MD5, or the BigQuery tables'
last-modified times), observed on `observe_cron`. `corpus` and
`embedding_batch_job` carry the pipeline's automation condition (eager by default), so a
changed source leads, with no click, to a submission; the job sensor then lands it and
refreshes everything downstream.
"""

import warnings

import dagster as dg

from embed_assets.bigquery.client import is_bigquery_uri
from embed_assets.corpus.bigquery import BigQueryQuery, bigquery_fingerprint
from embed_assets.pipeline.names import SOURCE_ASSET
from embed_assets.pipeline.view import PipelineView
from embed_assets.staging.files import storage_for


def build_source_asset(spec: PipelineView) -> dg.SourceAsset | None:
    """The observable source of a file, `gs://` or BigQuery corpus (None for other corpora)."""
    key, location = spec.source_key, spec.corpus
    if key is None or not isinstance(location, str | BigQueryQuery):
        return None
    condition = (  # observed once when the code location loads, then on every cron tick
        (
            dg.AutomationCondition.cron_tick_passed(spec.observe_cron)
            | dg.AutomationCondition.initial_evaluation()
        )
        & ~dg.AutomationCondition.in_progress()
        if spec.observe_cron
        else None
    )

    def observe() -> dg.ObserveResult:
        if isinstance(location, BigQueryQuery) or is_bigquery_uri(location):
            fingerprint = bigquery_fingerprint(location)
        else:
            fingerprint = storage_for(location).fingerprint(location)
        return dg.ObserveResult(
            data_version=dg.DataVersion(fingerprint or "missing"),
            metadata={"fingerprint": fingerprint or "the source is missing"},
        )

    shown = location if isinstance(location, str) else location.sql
    with warnings.catch_warnings():  # observable source assets are beta in Dagster
        warnings.simplefilter("ignore", dg.BetaWarning)
        shaped = spec.asset_spec(SOURCE_ASSET)
        return dg.observable_source_asset(
            key=key,
            group_name=shaped.group_name,
            description=shaped.description,
            tags=dict(shaped.tags) or None,
            metadata={
                **({"dagster/uri": shown} if isinstance(location, str) else {"query": shown}),
                **shaped.metadata,
            },
            automation_condition=condition,
        )(observe)


def build_automation_sensor(
    spec: PipelineView,
) -> dg.AutomationConditionSensorDefinition | None:
    """The sensor that evaluates the source's and the assets' automation conditions.

    Running from the start, so a `dagster dev` refreshes by itself with no switch to flip.
    """
    keys = [key for key in (spec.source_key, spec.corpus_key, spec.batch_job_key) if key]
    if spec.automation_condition is None and spec.source_key is None:
        return None
    return dg.AutomationConditionSensorDefinition(
        spec.names.automation_sensor,
        target=dg.AssetSelection.assets(*keys),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=max(10, min(30, spec.sensor_interval_seconds)),
        description=f"Observes the corpus of pipeline {spec.name} and refreshes its corpus and "
        "batch-job assets by their automation conditions.",
    )
