"""What each embedding model accepts: request schema, per-job limits, dimensions."""

from dataclasses import dataclass

from embed_assets.errors import ConfigError
from embed_assets.models.registry import LEXICAL_MODEL, MINILM_MODEL
from embed_assets.predictions.lines import RequestSchema


@dataclass(frozen=True)
class ModelSpec:
    """Limits and shape of one embedding model's batch jobs.

    Attributes:
        name: the model id as the service names it.
        schema: request and prediction line shape.
        max_prompts_per_job: most prompts one batch job may take.
        max_bytes_per_job: most request bytes one batch job may take (None: no byte limit).
        dimension: the vector length without `output_dimensionality`.
        min_dimensionality: smallest `output_dimensionality` accepted (None: not settable).
        max_input_tokens: the most tokens of one text the model reads; the rest is cut
            (`auto_truncate`) or the row fails.
    """

    name: str
    schema: RequestSchema
    max_prompts_per_job: int
    max_bytes_per_job: int | None
    dimension: int
    min_dimensionality: int | None = 1
    max_input_tokens: int = 2048

    def check_dimensionality(self, output_dimensionality: int | None) -> None:
        """Raises `ValueError` naming the field when the dimensionality is not supported."""
        if output_dimensionality is None:
            return
        low = self.min_dimensionality
        if low is None or not low <= output_dimensionality <= self.dimension:
            allowed = f"{low}..{self.dimension}" if low is not None else f"only {self.dimension}"
            raise ConfigError(
                f"output_dimensionality={output_dimensionality} is not supported by "
                f"{self.name} (allowed: {allowed})"
            )


LEGACY_MAX_PROMPTS = 30_000
GEMINI_MAX_PROMPTS = 1_000_000
GEMINI_MAX_BYTES = 1_000_000_000

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("text-embedding-005", RequestSchema.LEGACY, LEGACY_MAX_PROMPTS, None, 768),
        ModelSpec(
            "text-multilingual-embedding-002", RequestSchema.LEGACY, LEGACY_MAX_PROMPTS, None, 768
        ),
        ModelSpec(
            "gemini-embedding-001", RequestSchema.GEMINI, GEMINI_MAX_PROMPTS, GEMINI_MAX_BYTES, 3072
        ),
        ModelSpec(MINILM_MODEL, RequestSchema.LEGACY, LEGACY_MAX_PROMPTS, None, 384, None, 256),
        ModelSpec(LEXICAL_MODEL, RequestSchema.LEGACY, LEGACY_MAX_PROMPTS, None, 256, 1),
    )
}


def model_spec(model: str) -> ModelSpec:
    """Returns the spec of a model, accepting `publishers/google/models/<name>` too.

    Raises:
        ValueError: the model is unknown (the message names the field and the known models).
    """
    name = model.rsplit("/", 1)[-1]
    if name not in MODELS:
        raise ConfigError(
            f"model={model!r} is not a known embedding model; known: {', '.join(MODELS)}"
        )
    return MODELS[name]


def vector_dimension(model: str, output_dimensionality: int | None) -> int:
    """Returns the length of the vectors a model returns with this dimensionality."""
    return output_dimensionality or model_spec(model).dimension
