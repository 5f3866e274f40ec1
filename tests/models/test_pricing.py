"""Cost estimates come from one price table and say they are estimates."""

from embed_assets.backends.base import parse_time
from embed_assets.models.pricing import PRICE_TABLE_DATE, estimate_cost
from embed_assets.pipeline.metadata import cost_value


def test_legacy_models_bill_characters_and_gemini_bills_tokens() -> None:
    legacy = estimate_cost("publishers/google/models/text-embedding-005", characters=2_000_000)
    assert round(legacy.usd, 6) == 0.04
    gemini = estimate_cost("gemini-embedding-001", characters=4_000_000, tokens=1_000_000)
    assert round(gemini.usd, 6) == 0.075
    uncounted = estimate_cost("gemini-embedding-001", characters=4_000_000)
    assert "at most 4000000 tokens (one per character)" in uncounted.basis  # never under
    estimated = estimate_cost("gemini-embedding-2", characters=40, tokens=12, estimated=True)
    assert "at most 12 tokens (estimated, never under) at $0.1/1M tokens" in estimated.basis
    shown = cost_value(legacy).value
    assert shown.startswith("$0.0400 (estimate: ") and PRICE_TABLE_DATE in shown
    assert "2,000,000 characters" in shown or "2000000 characters" in shown
    assert estimate_cost("lexical-hash", characters=10).usd == 0.0


def test_rfc3339_timestamps_keep_their_zone_and_any_fraction() -> None:
    stamp = parse_time("2026-11-21T17:04:39.506424123Z")
    assert stamp is not None and stamp.utcoffset() is not None
    assert stamp.microsecond == 506424
    offset = parse_time("2026-11-21T17:04:39.5+02:00")
    assert offset is not None and offset.utcoffset().total_seconds() == 7200  # type: ignore[union-attr]
