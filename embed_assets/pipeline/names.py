"""The one naming rule: from a pipeline's name to every name derived from it.

Asset keys, the group, the sensor, the resource keys and the table all come from here, so
they cannot drift apart. The name is checked once, where the user gives it.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from embed_assets.errors import ConfigError
from embed_assets.store.base import table_name

# What Dagster accepts in group, sensor and job names; asset-key parts follow the same rule here
_VALID_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_KEY_PART = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_NAME_LENGTH = 63  # a Vertex label value, which carries the name, holds at most 63 characters

# resource keys end in these; by default each pipeline binds its own (`docs_embedding_backend`),
# so pipelines with their own resources merge into one code location without a clash
BACKEND_KEY_SUFFIX = "embedding_backend"
STORE_KEY_SUFFIX = "embedding_store"
# the last part of each asset key; the first is the pipeline's asset prefix
SOURCE_ASSET = "source"  # the observed corpus file or object, when the corpus is one
CORPUS_ASSET = "corpus"
BATCH_JOB_ASSET = "embedding_batch_job"
EMBEDDINGS_ASSET = "embeddings"
ASSETS = (SOURCE_ASSET, CORPUS_ASSET, BATCH_JOB_ASSET, EMBEDDINGS_ASSET)


def check_pipeline_name(name: str) -> str:
    """Returns `name` if it can name a pipeline, else raises `ValueError` saying what is allowed.

    Raises:
        ValueError: the name is empty, too long, or has a character Dagster rejects.
    """
    if not isinstance(name, str) or not _VALID_NAME.match(name) or len(name) > MAX_NAME_LENGTH:
        hint = f" (try {re.sub(r'[^A-Za-z0-9_]', '_', name)!r})" if isinstance(name, str) else ""
        raise ConfigError(
            f"name={name!r}: a pipeline name is 1 to {MAX_NAME_LENGTH} letters, digits and "
            f"underscores, as Dagster requires of group and sensor names{hint}"
        )
    return name


@dataclass(frozen=True)
class PipelineNames:
    """Every name derived from one pipeline name.

    Attributes:
        pipeline: the pipeline's name, exactly as given.
        asset_prefix: the pipeline's name as a name part (of its checks, say).
        key_prefix: the parts of each asset key before the asset's own name.
        group: the asset group.
        sensor: the job-completion sensor.
        pool: the Dagster pool of the batch-job asset (give it a limit of 1 to queue runs).
        automation_sensor: the sensor that refreshes corpus and jobs by their conditions.
        source_sensor: the sensor that observes the corpus source.
        backend_key: resource key of the batch backend.
        store_key: resource key of the embedding store.
        table: the embedding table.
    """

    pipeline: str
    asset_prefix: str
    key_prefix: tuple[str, ...]
    group: str
    sensor: str
    pool: str
    automation_sensor: str
    source_sensor: str
    backend_key: str
    store_key: str
    table: str

    def asset_path(self, asset: str) -> list[str]:
        """Returns the key path of one of the pipeline's assets (e.g. `BATCH_JOB_ASSET`)."""
        return [*self.key_prefix, asset]


def pipeline_names(
    name: str,
    *,
    backend_key: str | None = None,
    store_key: str | None = None,
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
) -> PipelineNames:
    """Derives every name of a pipeline from its (checked) name.

    Args:
        name: the pipeline's name.
        backend_key: resource key of the batch backend (default `<name>_embedding_backend`).
        store_key: resource key of the embedding store (default `<name>_embedding_store`).
        key_prefix: the asset keys' prefix (default: `[name]`).
        group_name: the asset group (default: the name).

    Raises:
        ConfigError: the name, a key part or the group is not allowed.
    """
    check_pipeline_name(name)
    prefix = tuple(key_prefix) if key_prefix is not None else (name,)
    for part in prefix:
        if not isinstance(part, str) or not _KEY_PART.match(part):
            raise ConfigError(
                f"key_prefix={list(prefix)!r}: each part is letters, digits, `_` or `-`, as "
                "Dagster requires of asset key parts"
            )
    if group_name is not None and not _VALID_NAME.match(group_name):
        raise ConfigError(
            f"group_name={group_name!r}: a group name is letters, digits and underscores"
        )
    return PipelineNames(
        pipeline=name,
        asset_prefix=name,
        key_prefix=prefix,
        group=group_name or name,
        sensor=f"{name}_batch_job_sensor",
        pool=f"embed_assets/{name}",
        automation_sensor=f"{name}_automation_sensor",
        source_sensor=f"{name}_source_sensor",
        backend_key=backend_key or f"{name}_{BACKEND_KEY_SUFFIX}",
        store_key=store_key or f"{name}_{STORE_KEY_SUFFIX}",
        table=table_name(name),
    )
