"""Where an emulated job's data lives: the location of its bucket or dataset, and the check.

The emulator refuses a create whose input or output is outside the job's region and its
multi-region, and a job of a model in a location without its batch, as Vertex does. The
locations are read from the GCS and BigQuery emulators over their REST APIs.
"""

import urllib.error
import urllib.request
from urllib.parse import quote

import orjson

from embed_assets.models.catalog import ModelSpec
from embed_assets.models.regions import serves
from embed_assets.testing.rest import ApiError


def _get(url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            data = orjson.loads(answer.read())
    except (urllib.error.URLError, OSError, orjson.JSONDecodeError):
        return None  # not there (the job then fails when it reads or writes, as on Vertex)
    return data if isinstance(data, dict) else None


def data_location(uri: str, *, gcs_url: str, bigquery_url: str | None) -> str | None:
    """The location of the bucket or dataset a `gs://` or `bq://` URI names (None: unknown)."""
    if uri.startswith("gs://"):
        bucket = uri.removeprefix("gs://").split("/", 1)[0]
        found = _get(f"{gcs_url.rstrip('/')}/storage/v1/b/{quote(bucket)}")
    elif uri.startswith("bq://") and bigquery_url:
        project, _, rest = uri.removeprefix("bq://").partition(".")
        dataset = rest.split(".", 1)[0]
        if not dataset:
            return None
        found = _get(
            f"{bigquery_url.rstrip('/')}/bigquery/v2/projects/{quote(project)}/datasets/"
            f"{quote(dataset)}"
        )
    else:
        return None
    location = (found or {}).get("location")
    return str(location) if location else None


def check_placement(
    spec: ModelSpec, region: str, uris: list[str], gcs_url: str, bigquery_url: str | None
) -> None:
    """Raises `ApiError` 400 where Vertex would refuse the job's placement.

    That is: a model without batch in `region`, BigQuery data for a model that reads Cloud
    Storage only, or data kept outside the job's region and multi-region.
    """
    if spec.batch_locations and region not in spec.batch_locations:
        raise ApiError(
            400, "INVALID_ARGUMENT", f"{spec.name} batch prediction is not available in {region}"
        )
    if not spec.bigquery and any(uri.startswith("bq://") for uri in uris):
        raise ApiError(
            400,
            "INVALID_ARGUMENT",
            f"{spec.name} batch jobs read JSONL from Cloud Storage and write there; BigQuery is "
            "not supported for this model",
        )
    for uri in uris:
        location = data_location(uri, gcs_url=gcs_url, bigquery_url=bigquery_url)
        if location is not None and not serves(region, location):
            raise ApiError(
                400,
                "FAILED_PRECONDITION",
                f"{uri} is in {location}; a batch prediction job in {region} reads and writes "
                "data in its own region or multi-region only",
            )
