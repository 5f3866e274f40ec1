"""What earlier materializations recorded, read back: the submission and landing records.

The records are written by `metadata` (the keys are there); the sensor, the assets and the
CLI read them through here.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg
import orjson

from embed_assets.jobs.record import Submission
from embed_assets.pipeline.metadata import DATA_VERSION_TAG, LANDING_REPORT, SUBMISSION_RECORD


def _value(entry: Any) -> Any:
    """The plain value of a metadata entry (a `MetadataValue` or a raw value)."""
    return getattr(entry, "value", entry)


def _json(entry: Any) -> Any:
    """The data of a JSON metadata entry (also when it was stored as a JSON string)."""
    data = _value(entry)
    return orjson.loads(data) if isinstance(data, (str, bytes)) else data


def submission_from_metadata(metadata: Mapping[str, Any]) -> Submission | None:
    """Reads the submission record back (None when the metadata holds none)."""
    entry = metadata.get(SUBMISSION_RECORD)
    return None if entry is None else Submission.from_json(_json(entry))


def landing_from_metadata(metadata: Mapping[str, Any]) -> dict[str, Any] | None:
    """Reads the landing record back (None when the metadata holds none)."""
    entry = metadata.get(LANDING_REPORT)
    return None if entry is None else dict(_json(entry))


def read_landing(event: dg.EventLogEntry) -> dict[str, Any]:
    """Reads the landing record of one embeddings materialization event ({} if none)."""
    materialization = event.asset_materialization
    if materialization is None:
        return {}
    return landing_from_metadata(materialization.metadata) or {}


def _latest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey) -> Mapping[str, Any] | None:
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return None
    return event.asset_materialization.metadata


def latest_data_version(instance: dg.DagsterInstance, key: dg.AssetKey) -> str | None:
    """Returns the data version of an asset's latest materialization (None before any)."""
    event = instance.get_latest_materialization_event(key)
    materialization = event.asset_materialization if event is not None else None
    return (materialization.tags or {}).get(DATA_VERSION_TAG) if materialization else None


def submitted_at(instance: dg.DagsterInstance, job_asset: dg.AssetKey) -> float | None:
    """When the latest submission was materialized (a Unix time; None before any)."""
    event = instance.get_latest_materialization_event(job_asset)
    return None if event is None else event.timestamp


def latest_submission(instance: dg.DagsterInstance, job_asset: dg.AssetKey) -> Submission | None:
    """Returns the record of the latest materialization of the batch-job asset."""
    metadata = _latest_metadata(instance, job_asset)
    return None if metadata is None else submission_from_metadata(metadata)


def find_submission(
    instance: dg.DagsterInstance, job_asset: dg.AssetKey, submission_id: str, *, search: int = 50
) -> Submission | None:
    """Returns the record with this id among the latest `search` materializations."""
    for record in instance.fetch_materializations(job_asset, limit=search).records:
        materialization = record.asset_materialization
        if materialization is None:
            continue
        submission = submission_from_metadata(materialization.metadata)
        if submission is not None and submission.submission_id == submission_id:
            return submission
    return None


def landed_submission_id(instance: dg.DagsterInstance, embeddings: dg.AssetKey) -> str | None:
    """Returns the id of the submission the embeddings asset last landed."""
    found = latest_landing(instance, embeddings).get("submission_id")
    return None if found is None else str(found)


def submission_in_force(
    instance: dg.DagsterInstance, embeddings: dg.AssetKey
) -> tuple[str, str] | None:
    """`(submission id, run id)` of the landing the table reflects (None before any)."""
    event = instance.get_latest_materialization_event(embeddings)
    if event is None:
        return None
    found = read_landing(event).get("submission_id")
    return None if found is None else (str(found), event.run_id)


def latest_landing(instance: dg.DagsterInstance, embeddings: dg.AssetKey) -> dict[str, Any]:
    """Returns the landing record of the latest embeddings materialization ({} if none)."""
    metadata = _latest_metadata(instance, embeddings)
    return (landing_from_metadata(metadata) if metadata is not None else None) or {}
