"""`EmbeddingPipelineComponent`: one embedding pipeline declared in a `defs.yaml`.

Its schema is derived from `EmbeddingPipeline`'s fields (names, types, defaults, and the
descriptions of `pipeline.fields`, which its docstring repeats) and from the options of the backend and store resources, so a
field added there is a YAML field here too, described the same way. Only what YAML cannot
carry stays in Python: a corpus function and a translator (YAML shapes asset specs with
Dagster's `post_processing` instead), and a backend's nested `gcs` resource.
"""

import dataclasses
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import dagster as dg
from pydantic import Field

from embed_assets.components.resources import BackendConfig, StoreConfig
from embed_assets.components.scaffolder import EmbeddingPipelineScaffolder
from embed_assets.corpus.bigquery_source import BigQueryQuery
from embed_assets.corpus.chunking import Chunking
from embed_assets.models.catalog import BatchPrice, ModelSpec
from embed_assets.pipeline.embedding_pipeline import EmbeddingPipeline
from embed_assets.pipeline.fields import FIELD_DESCRIPTIONS

PYTHON_ONLY = frozenset({"translator"})  # YAML: Dagster's post_processing
# a field named `model` would shadow `Resolvable.model()`: the attribute is renamed, not the key
RENAMED = {"model": "embedding_model"}


class BigQueryCorpus(dg.Model):
    """A BigQuery query as the corpus (`corpus: {sql: ..., project: ...}`)."""

    sql: str
    project: str
    location: str | None = None


class UpstreamCorpus(dg.Model):
    """An upstream asset whose value is a DataFrame, as the corpus (`corpus: {asset: a/b}`)."""

    asset: str


class ModelConfig(dg.Model):
    """A model the library does not list yet (`model: {name: ..., schema: ..., dimension: ...}`).

    The fields are `ModelSpec`'s; a price is per million characters or per million tokens.
    """

    name: str
    request_schema: Literal["legacy", "gemini"] = Field(alias="schema")  # `schema` is pydantic's
    dimension: int
    min_dimensionality: int | None = 1
    max_prompts_per_job: int = 30_000
    max_bytes_per_job: int | None = None
    max_input_tokens: int = 2048
    batch_locations: list[str] = []
    bigquery: bool = True
    price_per_million_characters: float | None = None
    price_per_million_tokens: float | None = None
    prompt_rule: Literal["config", "inline"] = "config"


def _model(
    context: dg.ResolutionContext, value: str | ModelConfig | None
) -> str | ModelSpec | None:
    if not isinstance(value, ModelConfig):
        return value
    fields = value.model_dump()
    fields["schema"] = fields.pop("request_schema")
    characters = fields.pop("price_per_million_characters")
    tokens = fields.pop("price_per_million_tokens")
    price = None
    if characters is not None or tokens is not None:
        price = BatchPrice(per_million_characters=characters, per_million_tokens=tokens)
    return ModelSpec(**fields, price=price)  # the spec makes its locations a tuple


class ChunkingConfig(dg.Model):
    """How documents are split (`chunking: {max_tokens: 400, overlap_tokens: 40}`).

    `max_tokens` unset: the model's input limit (less a margin where its count is estimated).
    """

    max_tokens: int | None = None
    overlap_tokens: int = 0


def _chunking(context: dg.ResolutionContext, value: ChunkingConfig | None) -> Chunking | None:
    if value is None:
        return None
    return Chunking(max_tokens=value.max_tokens, overlap_tokens=value.overlap_tokens)


def _corpus(
    context: dg.ResolutionContext, value: str | BigQueryCorpus | UpstreamCorpus
) -> str | BigQueryQuery | dg.AssetKey:
    if isinstance(value, BigQueryCorpus):
        return BigQueryQuery(sql=value.sql, project=value.project, location=value.location)
    if isinstance(value, UpstreamCorpus):
        return dg.AssetKey.from_user_string(value.asset)
    return value


def _annotated(kind: Any, resolver: dg.Resolver) -> Any:
    """`Annotated[kind, resolver]` for a type known only when the module loads."""
    return Annotated[kind, resolver]


def _as_given(context: dg.ResolutionContext, value: Any) -> Any:
    return value  # templates are rendered before a resolver is called


SPECIAL: Mapping[str, tuple[Any, Any]] = {  # field -> (YAML type, resolver function or None)
    "corpus": (str | BigQueryCorpus | UpstreamCorpus, _corpus),
    "model": (str | ModelConfig | None, _model),
    "chunking": (ChunkingConfig | None, _chunking),
    # a template: '{{ automation_condition.on_cron("0 3 * * *") }}'
    "automation_condition": (str | None, None),
}


def _pipeline_fields() -> list[tuple[str, Any, Any]]:
    """The Component's fields: every YAML-able pipeline field, then the resource blocks."""
    hints = typing.get_type_hints(EmbeddingPipeline)
    out: list[tuple[str, Any, Any]] = []
    for spec in dataclasses.fields(EmbeddingPipeline):
        if spec.name in PYTHON_ONLY:
            continue
        yaml_type, resolve = SPECIAL.get(spec.name, (None, None))
        options: dict[str, Any] = {"description": FIELD_DESCRIPTIONS[spec.name]}
        if spec.name in RENAMED:  # a default resolver would drop the YAML name
            options["model_field_name"] = spec.name
            yaml_type, resolve = yaml_type or hints[spec.name], resolve or _as_given
        if yaml_type is not None:
            options["model_field_type"] = yaml_type
        resolver = dg.Resolver(resolve, **options) if resolve else dg.Resolver.default(**options)
        annotation = _annotated(hints[spec.name], resolver)
        if spec.default is not dataclasses.MISSING:
            default: Any = dataclasses.field(default=spec.default)
        elif spec.default_factory is not dataclasses.MISSING:
            default = dataclasses.field(default_factory=spec.default_factory)
        else:
            default = dataclasses.field()
        out.append((RENAMED.get(spec.name, spec.name), annotation, default))
    out.append(("backend", BackendConfig, dataclasses.field(default_factory=BackendConfig)))
    out.append(("store", StoreConfig, dataclasses.field(default_factory=StoreConfig)))
    return out


class _PipelineComponent(dg.Component, dg.Resolvable):
    """The methods of `EmbeddingPipelineComponent` (its fields are derived below)."""

    def pipeline(self, root: Path) -> EmbeddingPipeline:
        """The `EmbeddingPipeline` these fields describe; a relative corpus path is below `root`."""
        values = {
            spec.name: getattr(self, RENAMED.get(spec.name, spec.name))
            for spec in dataclasses.fields(EmbeddingPipeline)
            if spec.name not in PYTHON_ONLY
        }
        corpus = values["corpus"]
        if isinstance(corpus, str) and "://" not in corpus and not Path(corpus).is_absolute():
            values["corpus"] = str(root / corpus)
        return EmbeddingPipeline(**values)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """Builds the pipeline's assets, checks and sensors with its own resources."""
        root = Path(context.path)
        blocks: Any = self  # the derived fields `backend` and `store`
        return self.pipeline(root).build_definitions(
            backend=blocks.backend.build(root), store=blocks.store.build(root)
        )


EmbeddingPipelineComponent = dg.scaffold_with(EmbeddingPipelineScaffolder)(
    dataclasses.make_dataclass(
        "EmbeddingPipelineComponent",
        _pipeline_fields(),
        bases=(_PipelineComponent,),
        kw_only=True,
        namespace={
            "__module__": __name__,
            "__doc__": """A corpus kept embedded in a table by batch embedding jobs, as assets,
    checks and sensors.

    `dg scaffold defs embed_assets.EmbeddingPipelineComponent <name>` writes a `defs.yaml` to
    start from. Every field is `EmbeddingPipeline`'s, with the same name and description (see
    `dg list components --json` or docs/public-api.md); a relative `corpus` path, backend
    `workdir` or store `path` is taken from the component's folder. `backend` and `store` take
    `type` and the options of the resource of that type.
    """,
        },
    )
)
