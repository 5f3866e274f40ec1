"""Where each model's batch jobs run, and which data locations a job in a region may read.

Vertex reads a job's input and writes its output only in the job's region or the
multi-region that holds it (the `us`, `eu` and `asia` multi-regions, and the dual-regions
named after them). gemini-embedding-001 batch runs in a few regions only (the batch
embeddings page, 2026-12); the legacy models' batch regions are not listed there, so they are
not checked.
"""

from embed_assets.errors import ConfigError

GEMINI_BATCH_REGIONS = (
    "us-central1",
    "us-east1",
    "us-east4",
    "us-west1",
    "us-west4",
    "europe-west1",
    "europe-west4",
)
BATCH_REGIONS: dict[str, tuple[str, ...]] = {"gemini-embedding-001": GEMINI_BATCH_REGIONS}

# a multi-region (or the prefix of a dual-region's name) and the regions inside it
_MULTI_REGIONS = {"us": "us-", "nam": "us-", "eu": "europe-", "eur": "europe-", "asia": "asia-"}


def check_batch_region(model: str, location: str) -> None:
    """Raises `ConfigError` when `model`'s batch jobs do not run in `location`."""
    regions = BATCH_REGIONS.get(model.rsplit("/", 1)[-1])
    if regions is not None and location not in regions:
        raise ConfigError(
            f"location={location!r}: {model} batch jobs run only in {', '.join(regions)}"
        )


def serves(region: str, data_location: str) -> bool:
    """Tells whether a job in `region` may read and write data kept in `data_location`.

    `data_location` is a bucket's or dataset's location as the service reports it
    (`US-CENTRAL1`, `US`, `EU`, `NAM4`, `europe-west4`).
    """
    where = data_location.strip().lower()
    if where == region.lower():
        return True
    family = where.rstrip("0123456789")
    prefix = _MULTI_REGIONS.get(family)
    return prefix is not None and region.lower().startswith(prefix)
