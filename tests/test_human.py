"""Numbers as a person reads them."""

from embed_assets.human import duration, plural, progress, usd


def test_numbers_read_as_a_person_says_them() -> None:
    assert (plural(1, "row"), plural(2_000, "row")) == ("1 row", "2,000 rows")
    assert plural(1, "row was", "rows were") == "1 row was"
    assert (usd(0), usd(0.00001), usd(0.01234), usd(12.5)) == (
        "$0",
        "under $0.0001",
        "$0.0123",
        "$12.50",
    )
    assert (duration(12.4), duration(200), duration(7500)) == ("12 s", "3 min 20 s", "2 h 05 min")
    assert (
        progress(100, 400, elapsed=60) == "100 of 400 rows (25%), 1 min elapsed, about 3 min left"
    )
    assert progress(0, 400, elapsed=5) == "0 of 400 rows (0%), 5 s elapsed"
