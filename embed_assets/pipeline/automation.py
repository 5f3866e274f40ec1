"""Lineage-driven refresh: the observed corpus source and the sensors that act on it.

A corpus file, `gs://` object or BigQuery source is an observable source asset whose data
version is a cheap fingerprint (size and mtime, generation and MD5, or the BigQuery tables'
last-modified times). The source sensor looks at it on `observe_cron` and records an
observation only when the version changed: no run, and no event while nothing changes.
`corpus` and `embedding_batch_job` carry the pipeline's automation condition (eager by
default), so a changed source leads, with no click, to a submission; the job sensor then
lands it and refreshes everything downstream.
"""

import json
import warnings
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg

from embed_assets.bigquery.client import is_bigquery_uri
from embed_assets.corpus.bigquery_source import BigQueryQuery, bigquery_fingerprint
from embed_assets.errors import EmbedAssetsError
from embed_assets.pipeline.cron import CronSchedule
from embed_assets.pipeline.names import SOURCE_ASSET
from embed_assets.pipeline.runs import run_materializing
from embed_assets.staging.files import storage_for

if TYPE_CHECKING:  # the pipeline builds these; they read it
    from embed_assets.pipeline.embedding_pipeline import EmbeddingPipeline

# the tag Dagster reads an observation's data version from
DATA_VERSION_TAG = "dagster/data_version"
# a sensor's seconds between ticks: a minute's cron tick is seen within this
SOURCE_SENSOR_SECONDS = 30
# the automation sensor ticks at least this often (`build_automation_sensor`), with a margin
SETTLE_SECONDS = 35
SOURCE_STATE = "state"  # metadata: the size and time, or generation, a version was read from


def source_version(location: str | BigQueryQuery) -> tuple[str, str]:
    """The source's data version and what it was read from (its fingerprint, or why none)."""
    if isinstance(location, BigQueryQuery) or is_bigquery_uri(location):
        fingerprint = bigquery_fingerprint(location)
    else:
        fingerprint = storage_for(location).fingerprint(location)
    return fingerprint or "missing", fingerprint or "the source is missing"


def build_source_asset(spec: "EmbeddingPipeline") -> dg.SourceAsset | None:
    """The observable source of a file, `gs://` or BigQuery corpus (None for other corpora).

    It is observed by the source sensor (`build_source_sensor`), or on request in the UI.
    """
    key, location = spec.source_key, spec.corpus
    if key is None or not isinstance(location, str | BigQueryQuery):
        return None

    def observe() -> dg.ObserveResult:
        version, fingerprint = source_version(location)
        return dg.ObserveResult(
            data_version=dg.DataVersion(version), metadata={SOURCE_STATE: fingerprint}
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
        )(observe)


def build_source_sensor(spec: "EmbeddingPipeline") -> dg.SensorDefinition | None:
    """The sensor that observes the source on `observe_cron`, recording changes only.

    Each tick where the schedule has ticked reads the fingerprint; a version other than the
    last one recorded becomes an observation of the source (in the sensor's result: no run).
    The first look is on the second tick, whatever the schedule. Its cursor is the time of
    the last look (`source_sensor_cursor`).
    """
    key, location, cron = spec.source_key, spec.corpus, spec.observe_cron
    if key is None or not isinstance(location, str | BigQueryQuery) or not cron:
        return None
    schedule = CronSchedule.parse(cron)
    shown = location if isinstance(location, str) else "the BigQuery query"

    @dg.sensor(
        name=spec.names.source_sensor,
        minimum_interval_seconds=SOURCE_SENSOR_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Observes the corpus of pipeline {spec.name} on the schedule {cron!r} and "
        "records an observation when its data version changes (no run).",
    )
    def _observe(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        now = datetime.now(UTC)
        if context.cursor is None:
            # the automation sensor evaluates first, so a first version is an update to it
            return dg.SensorResult(
                skip_reason=f"first look at {shown} on the next tick", cursor=json.dumps({})
            )
        looked = _looked_at(context.cursor)
        if looked is not None and not schedule.ticked_between(looked, now):
            return dg.SkipReason(f"next look at {shown} on the schedule {cron!r}")
        cursor = source_sensor_cursor(now)
        try:
            version, fingerprint = source_version(location)
        except (EmbedAssetsError, OSError) as error:
            return dg.SensorResult(skip_reason=f"cannot observe {shown}: {error}", cursor=cursor)
        recorded = latest_source_version(context.instance, key)
        if version == recorded:
            return dg.SensorResult(
                skip_reason=f"{shown} unchanged (data version {version})", cursor=cursor
            )
        # A change recorded during a run that refreshes corpus, or in the same automation
        # tick as its materialization, would not be refreshed again though that run may not
        # have read it (corpus would stay "unsynced"); recorded after both, it is.
        running = run_materializing(context.instance, spec.corpus_key)
        if running is not None:
            return dg.SkipReason(
                f"{shown} changed while run {running} refreshes corpus; recorded when it ends"
            )
        if _materialized_within(context.instance, spec.corpus_key, SETTLE_SECONDS):
            return dg.SkipReason(
                f"{shown} changed as corpus was refreshed; recorded once the automation has "
                "seen that refresh"
            )
        return dg.SensorResult(
            asset_events=[_observation(key, version, fingerprint)], cursor=cursor
        )

    return _observe


def source_sensor_cursor(looked_at: datetime) -> str:
    """The source sensor's cursor: when it last looked at the source."""
    return json.dumps({"looked_at": looked_at.timestamp()})


def _looked_at(cursor: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(json.loads(cursor or "")["looked_at"]), UTC)
    except (ValueError, KeyError, TypeError):
        return None


def record_source_version(instance: dg.DagsterInstance, spec: "EmbeddingPipeline") -> None:
    """Records the source's version, if new, as a run that reads it is about to start.

    The headless runner does this: its run's corpus then names the version it read as its
    input's, and a `dagster dev` on the same instance finds the source unchanged.
    """
    key, location = spec.source_key, spec.corpus
    if key is None or not isinstance(location, str | BigQueryQuery):
        return
    try:
        version, fingerprint = source_version(location)
    except (EmbedAssetsError, OSError):
        return  # reading the corpus says what is wrong
    if version != latest_source_version(instance, key):
        instance.report_runless_asset_event(_observation(key, version, fingerprint))


def _observation(key: dg.AssetKey, version: str, fingerprint: str) -> dg.AssetObservation:
    return dg.AssetObservation(
        asset_key=key, metadata={SOURCE_STATE: fingerprint}, tags={DATA_VERSION_TAG: version}
    )


def _materialized_within(instance: dg.DagsterInstance, key: dg.AssetKey, seconds: float) -> bool:
    event = instance.get_latest_materialization_event(key)
    return event is not None and event.timestamp > datetime.now(UTC).timestamp() - seconds


def latest_source_version(instance: dg.DagsterInstance, key: dg.AssetKey) -> str | None:
    """The data version of the source's latest observation (None before the first)."""
    records = instance.fetch_observations(dg.AssetRecordsFilter(asset_key=key), limit=1).records
    if not records:
        return None
    observation = records[0].asset_observation
    return observation.tags.get(DATA_VERSION_TAG) if observation is not None else None


def build_automation_sensor(
    spec: "EmbeddingPipeline",
) -> dg.AutomationConditionSensorDefinition | None:
    """The sensor that evaluates the corpus and batch-job assets' automation conditions.

    Running from the start, so a `dagster dev` refreshes by itself with no switch to flip.
    """
    if spec.automation_condition is None:
        return None
    return dg.AutomationConditionSensorDefinition(
        spec.names.automation_sensor,
        target=dg.AssetSelection.assets(spec.corpus_key, spec.batch_job_key),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=max(10, min(30, spec.sensor_interval_seconds)),
        description=f"Refreshes the corpus and batch-job assets of pipeline {spec.name} by "
        "their automation conditions.",
    )
