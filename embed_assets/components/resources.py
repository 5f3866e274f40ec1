"""The Component's `backend` and `store` blocks, derived from the resources' own options.

Each block takes `type` and every option of the resource of that type, with the resource's
own description; an option left out keeps the resource's default. A relative `workdir` or
`path` is taken from the component's folder.
"""

import dataclasses
from pathlib import Path
from typing import Annotated, Any, Literal

import dagster as dg
import pydantic

from embed_assets.backends.local.resource import LocalBatchBackend
from embed_assets.backends.vertex import VertexBatchBackend
from embed_assets.errors import ConfigError
from embed_assets.store.bigquery_store import BigQueryEmbeddingStore
from embed_assets.store.duckdb import DuckDBEmbeddingStore

NOT_IN_YAML = frozenset({"gcs"})  # a nested resource: bind the backend in Python to pass one
PATHS = frozenset({"workdir", "path"})  # below the component's folder unless absolute


def _options(kinds: dict[str, type[dg.ConfigurableResource]]) -> list[tuple[str, Any, Any]]:
    """One optional field per resource option, described as each resource describes it."""
    merged: dict[str, tuple[Any, list[str]]] = {}
    for kind, resource in kinds.items():
        for name, option in resource.model_fields.items():
            if name in NOT_IN_YAML:
                continue
            annotation, described = merged.setdefault(name, (option.annotation, []))
            described.append(f"({kind}) {option.description or ''}".strip())
    return [
        (
            name,
            Annotated[annotation | None, dg.Resolver.default(description=" ".join(described))],
            dataclasses.field(default=None),
        )
        for name, (annotation, described) in merged.items()
    ]


def build_resource(
    block: Any, what: str, kinds: dict[str, type[dg.ConfigurableResource]], root: Path
) -> Any:
    """The resource a block describes.

    Raises:
        ConfigError: an option of another type is set, a required one is missing, or an
            option's value is refused (one line naming it).
    """
    resource = kinds[block.type]
    options = {
        name: getattr(block, name)
        for name in _option_names(kinds)
        if getattr(block, name) is not None
    }
    foreign = sorted(set(options) - set(resource.model_fields))
    if foreign:
        raise ConfigError(
            f"{what} type {block.type} takes no {', '.join(foreign)} (options of another type)"
        )
    required = [name for name, option in resource.model_fields.items() if option.is_required()]
    missing = [name for name in required if name not in options]
    if missing:
        raise ConfigError(
            f"{what} type {block.type} needs {' and '.join(required)} "
            f"({', '.join(missing)} missing)"
        )
    for name in PATHS & set(resource.model_fields):
        path = Path(str(options.get(name) or resource.model_fields[name].default))
        options[name] = str(path if path.is_absolute() else root / path)
    try:
        return resource(**options)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"{what} {where}: {first['msg']}") from None


def _option_names(kinds: dict[str, type[dg.ConfigurableResource]]) -> list[str]:
    return list(
        dict.fromkeys(
            name
            for resource in kinds.values()
            for name in resource.model_fields
            if name not in NOT_IN_YAML
        )
    )


BACKENDS: dict[str, type[dg.ConfigurableResource]] = {
    "local": LocalBatchBackend,
    "vertex": VertexBatchBackend,
}
STORES: dict[str, type[dg.ConfigurableResource]] = {
    "duckdb": DuckDBEmbeddingStore,
    "bigquery": BigQueryEmbeddingStore,
}


def _block(name: str, what: str, kinds: dict[str, type[dg.ConfigurableResource]], doc: str) -> type:
    default = next(iter(kinds))
    kind_type = Literal[tuple(kinds)]  # type: ignore[valid-type]
    fields = [
        (
            "type",
            Annotated[
                kind_type,
                dg.Resolver.default(description=f"{doc} ({', '.join(kinds)}; default {default})."),
            ],
            dataclasses.field(default=default),
        ),
        *_options(kinds),
    ]

    def build(self: Any, root: Path) -> Any:
        """Returns the resource this block describes (relative paths below `root`)."""
        return build_resource(self, what, kinds, root)

    return dataclasses.make_dataclass(
        name,
        fields,
        bases=(dg.Resolvable,),
        kw_only=True,
        namespace={
            "build": build,
            "__module__": __name__,
            "__doc__": f"{doc}: `type` and its resource's options.",
        },
    )


BackendConfig = _block(
    "BackendConfig", "backend", BACKENDS, "Where the batch jobs run: local or Vertex AI"
)
StoreConfig = _block(
    "StoreConfig", "store", STORES, "Where the embedding table lives: a DuckDB file or BigQuery"
)
