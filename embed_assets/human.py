"""Numbers as a person reads them: counts with their noun, money, durations, progress."""


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 row`, `2 rows`, `1,000 rows` (`nouns` when the plural is not `noun` + s)."""
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"


def usd(amount: float) -> str:
    """`$12.34`, `$0.0012`, `under $0.0001`: cents where they matter, four places below."""
    if amount == 0:
        return "$0"
    if amount < 0.0001:
        return "under $0.0001"
    return f"${amount:,.2f}" if amount >= 1 else f"${amount:.4f}"


def duration(seconds: float) -> str:
    """`12 s`, `3 min 20 s`, `2 h 05 min`."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def progress(done: int, total: int, *, elapsed: float | None = None) -> str:
    """`120 of 400 rows (30%), 4 min elapsed, about 9 min left` (the rate so far, extrapolated).

    No estimate before any row is done, or once all are.
    """
    share = f" ({done / total:.0%})" if total else ""
    text = f"{done:,} of {plural(total, 'row')}{share}"
    if elapsed is None:
        return text
    text += f", {duration(elapsed)} elapsed"
    if 0 < done < total:
        text += f", about {duration(elapsed * (total - done) / done)} left"
    return text
