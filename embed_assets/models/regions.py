"""Where a model's batch jobs run, and which data locations a job in a location may read.

A model's batch locations are in its `ModelSpec` (`batch_locations`; empty: not checked).
Vertex reads a job's input and writes its output only in the job's region or the multi-region
that holds it (the `us`, `eu` and `asia` multi-regions, and the dual-regions named after them).
A job in a multi-region location (`us`, `eu`) reads data in that multi-region or in a region
inside it; a job in `global` reads data anywhere.
"""

from embed_assets.errors import ConfigError
from embed_assets.models.catalog import ModelSpec

GLOBAL_LOCATION = "global"
# a multi-region (or the prefix of a dual-region's name) and the regions inside it
_MULTI_REGIONS = {"us": "us-", "nam": "us-", "eu": "europe-", "eur": "europe-", "asia": "asia-"}


def check_batch_region(spec: ModelSpec, location: str) -> None:
    """Raises `ConfigError` when `spec`'s batch jobs do not run in `location`."""
    if spec.batch_locations and location not in spec.batch_locations:
        raise ConfigError(
            f"location={location!r}: {spec.name} batch jobs run only in "
            f"{', '.join(spec.batch_locations)}"
        )


def serves(location: str, data_location: str) -> bool:
    """Tells whether a job in `location` may read and write data kept in `data_location`.

    `location` is the job's Vertex location (`us-central1`, `us`, `global`); `data_location`
    a bucket's or dataset's location as the service reports it (`US-CENTRAL1`, `US`, `EU`,
    `NAM4`, `europe-west4`).
    """
    job = location.strip().lower()
    where = data_location.strip().lower()
    if job == GLOBAL_LOCATION or where == job:
        return True
    data_family = _MULTI_REGIONS.get(where.rstrip("0123456789"))
    if job in _MULTI_REGIONS:  # a multi-region job: its multi-region, or a region inside it
        return data_family == _MULTI_REGIONS[job] or where.startswith(_MULTI_REGIONS[job])
    return data_family is not None and job.startswith(data_family)
