"""Every fact the library knows about an embedding model, in one registry.

A `ModelSpec` holds a model's request schema, per-job limits, dimensions, input limit, batch
locations, BigQuery support, batch price and prompt rule. The models the library ships are
entries below; a pipeline given a `ModelSpec` declares a model the library does not list yet
(`EmbeddingPipeline(model=ModelSpec(...))`, YAML `model: {name: ..., ...}`), and every part
of the library then finds it by its name.

Sources (2026-12): Google's "Get batch embeddings inferences" page (limits, locations, Cloud
Storage only for Gemini embedding, the inline task of gemini-embedding-2), the model pages
(dimensions, input limits), and public summaries of the Vertex AI pricing page (prices).
"""

import threading
from dataclasses import dataclass
from enum import Enum

from embed_assets.errors import ConfigError
from embed_assets.models.registry import LEXICAL_MODEL, MINILM_MODEL
from embed_assets.predictions.lines import RequestSchema


class PromptRule(Enum):
    """Where a model reads the task type and title of a text."""

    CONFIG = "config"  # in the request: legacy `task_type` / `title`, Gemini `embed_content_config`
    INLINE = (
        "inline"  # written into the text (`title: ... | text: ...`), as gemini-embedding-2 reads
    )


@dataclass(frozen=True, kw_only=True)
class BatchPrice:
    """A model's batch list price in USD: per million characters, or per million input tokens."""

    per_million_characters: float | None = None
    per_million_tokens: float | None = None


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """What the library needs to know of one embedding model.

    Pass one as `EmbeddingPipeline(model=...)` to use a model this library does not list yet;
    every field but `name`, `schema` and `dimension` has the default of a Vertex model.

    Example:
        ```python
        ModelSpec(name="text-embedding-006", schema="legacy", dimension=768)
        ```

    Attributes:
        name: the model id as the service names it (`text-embedding-005`).
        schema: the request and prediction lines, a `RequestSchema` or its value: `legacy`
            (`content` / `task_type` / `title` lines, echoed under `instance`) or `gemini`
            (`key` + `request` lines).
        dimension: the vector length without `output_dimensionality`.
        min_dimensionality: the smallest `output_dimensionality` accepted (None: not settable).
        max_prompts_per_job: the most prompts one batch job may take.
        max_bytes_per_job: the most request bytes one batch job may take (None: no byte limit).
        max_input_tokens: the most tokens of one text the model reads; the rest is cut
            (`auto_truncate`) or the row fails.
        batch_locations: the Vertex locations where its batch jobs run (empty: not checked).
        bigquery: its jobs read and write BigQuery tables (else Cloud Storage only).
        price: its batch list price (None: no charge known; the estimate is 0).
        prompt_rule: a `PromptRule` or its value: `config` (task type and title in the
            request) or `inline` (in the text).
        local: one of the library's own models for the local backend (whose tokenizer counts
            its tokens exactly); a declared model cannot be local.
    """

    name: str
    schema: RequestSchema
    dimension: int
    min_dimensionality: int | None = 1
    max_prompts_per_job: int = 30_000
    max_bytes_per_job: int | None = None
    max_input_tokens: int = 2048
    batch_locations: tuple[str, ...] = ()
    bigquery: bool = True
    price: BatchPrice | None = None
    prompt_rule: PromptRule = PromptRule.CONFIG
    local: bool = False

    def __post_init__(self) -> None:
        fixed = {  # YAML and Python users may give the enums by value
            "schema": _enum(RequestSchema, self.schema, "schema"),
            "prompt_rule": _enum(PromptRule, self.prompt_rule, "prompt_rule"),
            "batch_locations": tuple(self.batch_locations),
        }
        for name, value in fixed.items():
            object.__setattr__(self, name, value)
        if not self.name.strip() or "/" in self.name:
            raise ConfigError(
                f"model name {self.name!r}: give the model id, e.g. text-embedding-005"
            )
        if self.dimension < 1 or self.max_prompts_per_job < 1 or self.max_input_tokens < 1:
            raise ConfigError(
                f"model {self.name}: dimension, max_prompts_per_job and max_input_tokens must "
                "be at least 1"
            )

    @property
    def bills_tokens(self) -> bool:
        """True when its price is per input token (its spend is estimated in tokens)."""
        return self.price is not None and self.price.per_million_tokens is not None

    def check_dimensionality(self, output_dimensionality: int | None) -> None:
        """Raises `ConfigError` naming the field when the dimensionality is not supported."""
        if output_dimensionality is None:
            return
        low = self.min_dimensionality
        if low is None or not low <= output_dimensionality <= self.dimension:
            allowed = f"{low}..{self.dimension}" if low is not None else f"only {self.dimension}"
            raise ConfigError(
                f"output_dimensionality={output_dimensionality} is not supported by "
                f"{self.name} (allowed: {allowed})"
            )


def _enum(kind: type[Enum], value: object, field_name: str) -> Enum:
    if isinstance(value, kind):
        return value
    try:
        return kind(str(value).lower())
    except ValueError:
        allowed = ", ".join(str(member.value) for member in kind)
        raise ConfigError(f"{field_name}={value!r}: choose one of {allowed}") from None


GEMINI_MAX_PROMPTS = 1_000_000
GEMINI_MAX_BYTES = 1_000_000_000
GEMINI_001_LOCATIONS = (
    "us-central1",
    "us-east1",
    "us-east4",
    "us-west1",
    "us-west4",
    "europe-west1",
    "europe-west4",
)
_LEGACY_PRICE = BatchPrice(per_million_characters=0.02)  # $0.00002 / 1k characters, batch

SHIPPED: tuple[ModelSpec, ...] = (
    ModelSpec(name="text-embedding-005", schema=RequestSchema.LEGACY, dimension=768,
              price=_LEGACY_PRICE),
    ModelSpec(name="text-multilingual-embedding-002", schema=RequestSchema.LEGACY,
              dimension=768, price=_LEGACY_PRICE),
    ModelSpec(name="gemini-embedding-001", schema=RequestSchema.GEMINI, dimension=3072,
              max_prompts_per_job=GEMINI_MAX_PROMPTS, max_bytes_per_job=GEMINI_MAX_BYTES,
              batch_locations=GEMINI_001_LOCATIONS, bigquery=False,
              price=BatchPrice(per_million_tokens=0.075)),  # $0.15 online, batch half
    ModelSpec(name="gemini-embedding-2", schema=RequestSchema.GEMINI, dimension=3072,
              min_dimensionality=128, max_prompts_per_job=GEMINI_MAX_PROMPTS,
              max_bytes_per_job=GEMINI_MAX_BYTES, max_input_tokens=8192,
              batch_locations=("global", "us", "eu"), bigquery=False,
              price=BatchPrice(per_million_tokens=0.10),  # $0.20 online, batch half
              prompt_rule=PromptRule.INLINE),
    ModelSpec(name=MINILM_MODEL, schema=RequestSchema.LEGACY, dimension=384,
              min_dimensionality=None, max_input_tokens=256, local=True),
    ModelSpec(name=LEXICAL_MODEL, schema=RequestSchema.LEGACY, dimension=256, local=True),
)  # fmt: skip

_models: dict[str, ModelSpec] = {spec.name: spec for spec in SHIPPED}
_declared: set[str] = set()
_lock = threading.Lock()


def declare_model(spec: ModelSpec) -> ModelSpec:
    """Adds a model to the registry (again: nothing changes), so every part of the library knows it.

    Raises:
        ConfigError: the name is a shipped model, or was declared with other facts.
    """
    if spec.local:
        raise ConfigError(
            f"model {spec.name!r}: the local backend runs only the library's own local models "
            f"({', '.join(s.name for s in SHIPPED if s.local)})"
        )
    with _lock:
        known = _models.get(spec.name)
        if known == spec:
            return known
        if known is not None:
            where = "declared once" if spec.name in _declared else "shipped with the library"
            raise ConfigError(
                f"model {spec.name!r} is {where} with other facts ({_differences(known, spec)}); "
                "declare another name, or pass the model's name to use the known one"
            )
        _models[spec.name] = spec
        _declared.add(spec.name)
        return spec


def _differences(known: ModelSpec, given: ModelSpec) -> str:
    changed = [
        f"{name}={getattr(given, name)!r} (known: {getattr(known, name)!r})"
        for name in ModelSpec.__dataclass_fields__
        if getattr(known, name) != getattr(given, name)
    ]
    return ", ".join(changed)


def model_spec(model: str) -> ModelSpec:
    """Returns a model's spec, accepting `publishers/google/models/<name>` too.

    Raises:
        ConfigError: the model is unknown (the message says how to declare it).
    """
    name = model.rsplit("/", 1)[-1]
    spec = _models.get(name)
    if spec is None:
        raise ConfigError(
            f"model={model!r} is not a known embedding model (known: {', '.join(_models)}); "
            f"to use it, declare it: model=ModelSpec(name={name!r}, schema='legacy' or "
            "'gemini', dimension=...) (YAML: model: {name: ..., schema: ..., dimension: ...})"
        )
    return spec


def known_models() -> list[ModelSpec]:
    """Every model the registry holds: the shipped ones, then the declared ones."""
    return list(_models.values())


def vector_dimension(model: str, output_dimensionality: int | None) -> int:
    """Returns the length of the vectors a model returns with this dimensionality."""
    return output_dimensionality or model_spec(model).dimension
