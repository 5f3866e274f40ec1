"""Estimated cost of batch embedding jobs, from one price table.

Prices are Vertex AI batch prediction list prices in USD, as published on Google Cloud's
generative AI pricing page (https://cloud.google.com/vertex-ai/generative-ai/pricing) and
read on 2026-11-21 from public summaries of it. They change and vary by contract: every figure
this module returns is labelled an estimate. Local models cost nothing.
"""

from dataclasses import dataclass

PRICE_TABLE_SOURCE = "https://cloud.google.com/vertex-ai/generative-ai/pricing"
PRICE_TABLE_DATE = "2026-11-21"
CHARACTERS_PER_TOKEN = 4.0  # a rough rule for English text, used before tokens are known


@dataclass(frozen=True)
class BatchPrice:
    """A model's batch price: per million characters or per million input tokens (USD)."""

    per_million_characters: float | None = None
    per_million_tokens: float | None = None


BATCH_PRICES: dict[str, BatchPrice] = {
    # Legacy text embedding models bill characters: $0.000025 / 1k online, $0.00002 / 1k batch.
    "text-embedding-005": BatchPrice(per_million_characters=0.02),
    "text-multilingual-embedding-002": BatchPrice(per_million_characters=0.02),
    # Gemini embedding bills input tokens: $0.15 / 1M online; batch is half of that.
    "gemini-embedding-001": BatchPrice(per_million_tokens=0.075),
}


@dataclass(frozen=True)
class CostEstimate:
    """An estimated cost and what it was computed from."""

    usd: float
    basis: str

    def describe(self) -> str:
        """One line, labelled as an estimate, with what it was computed from and the price source."""
        return f"estimate: {self.basis}; list prices from {PRICE_TABLE_SOURCE} as of {PRICE_TABLE_DATE}"


def estimate_cost(model: str, *, characters: int, tokens: int | None = None) -> CostEstimate:
    """Estimates the batch cost of embedding `characters` (and `tokens`, when known) with `model`.

    Args:
        model: the model name (a `publishers/google/models/` prefix is accepted).
        characters: characters submitted.
        tokens: input tokens the service reported; estimated from characters when None.
    """
    name = model.rsplit("/", 1)[-1]
    price = BATCH_PRICES.get(name)
    if price is None:
        return CostEstimate(0.0, f"{name} runs locally, no service charge")
    if price.per_million_characters is not None:
        usd = characters / 1e6 * price.per_million_characters
        return CostEstimate(
            usd, f"{characters} characters at ${price.per_million_characters}/1M characters"
        )
    per_million_tokens = price.per_million_tokens or 0.0  # a price has one of the two
    if tokens is None:
        guessed = int(characters / CHARACTERS_PER_TOKEN)
        return CostEstimate(
            guessed / 1e6 * per_million_tokens,
            f"about {guessed} tokens (characters / {CHARACTERS_PER_TOKEN:g}) at "
            f"${per_million_tokens}/1M tokens",
        )
    return CostEstimate(
        tokens / 1e6 * per_million_tokens,
        f"{tokens} tokens at ${per_million_tokens}/1M tokens",
    )
