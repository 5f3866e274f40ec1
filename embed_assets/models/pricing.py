"""Estimated cost of batch embedding jobs, from one price table.

Prices are Vertex AI batch prediction list prices in USD, as published on Google Cloud's
generative AI pricing page (https://cloud.google.com/vertex-ai/generative-ai/pricing) and
read on 2026-12-06 from public summaries of it; each model's is in its `ModelSpec.price`.
They change and vary by contract: every figure this module returns is labelled an estimate.
Local models cost nothing. Before the service has counted a submission's tokens, they are
estimated never to fall short (`models.tokens.estimate_vertex_tokens`), so a spend limit is
never exceeded by text that tokenizes densely (Chinese, Japanese, Korean, emoji).
"""

from dataclasses import dataclass

from embed_assets.models.catalog import model_spec

PRICE_TABLE_SOURCE = "https://cloud.google.com/vertex-ai/generative-ai/pricing"
PRICE_TABLE_DATE = "2026-12-06"


@dataclass(frozen=True)
class CostEstimate:
    """An estimated cost and what it was computed from."""

    usd: float
    basis: str


def estimate_cost(
    model: str, *, characters: int, tokens: int | None = None, estimated: bool = False
) -> CostEstimate:
    """Estimates the batch cost of embedding `characters` characters (`tokens` tokens) with `model`.

    Args:
        model: the model name (a `publishers/google/models/` prefix is accepted).
        characters: characters submitted.
        tokens: input tokens: as the service reported them, or (`estimated`) as estimated
            before submitting. None for a model billed by tokens: at most one per character.
        estimated: `tokens` is the estimate, not the service's count.
    """
    spec = model_spec(model)
    price, name = spec.price, spec.name
    if price is None:
        reason = "runs locally" if spec.local else "has no known price"
        return CostEstimate(0.0, f"{name} {reason}, no charge counted")
    if price.per_million_characters is not None:
        usd = characters / 1e6 * price.per_million_characters
        return CostEstimate(
            usd, f"{characters} characters at ${price.per_million_characters}/1M characters"
        )
    per_million_tokens = price.per_million_tokens or 0.0  # a price has one of the two
    if tokens is None:  # the estimate never counts more tokens than characters
        counted = f"at most {characters} tokens (one per character)"
        tokens = characters
    elif estimated:
        counted = f"at most {tokens} tokens (estimated, never under)"
    else:
        counted = f"{tokens} tokens"
    return CostEstimate(
        tokens / 1e6 * per_million_tokens, f"{counted} at ${per_million_tokens}/1M tokens"
    )
