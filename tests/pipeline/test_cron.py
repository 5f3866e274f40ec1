"""Cron schedules read as Dagster reads them, in UTC."""

from datetime import UTC, datetime, timedelta

import pytest

from embed_assets.errors import ConfigError
from embed_assets.pipeline.cron import CronSchedule


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "moment", "ticks"),
    [
        ("* * * * *", "2026-12-07 05:31", True),
        ("*/5 * * * *", "2026-12-07 05:30", True),
        ("*/5 * * * *", "2026-12-07 05:31", False),
        ("0 3 * * *", "2026-12-07 03:00", True),
        ("0 3 * * *", "2026-12-07 04:00", False),
        ("15,45 9-17 * * MON-FRI", "2026-12-07 09:45", True),  # a Monday
        ("15,45 9-17 * * MON-FRI", "2026-12-06 09:45", False),  # a Sunday
        ("0 0 * * 7", "2026-12-06 00:00", True),  # 7 is Sunday too
        ("0 0 1 JAN *", "2027-01-01 00:00", True),
        ("@daily", "2026-12-07 00:00", True),
        ("@hourly", "2026-12-07 05:01", False),
        # both day fields restricted: either one matches
        ("0 0 13 * FRI", "2026-12-11 00:00", True),  # a Friday
        ("0 0 13 * FRI", "2026-12-13 00:00", True),  # the 13th, a Sunday
        ("0 0 13 * FRI", "2026-12-12 00:00", False),
    ],
)
def test_a_schedule_ticks_in_the_minutes_cron_says(cron: str, moment: str, ticks: bool) -> None:
    assert CronSchedule.parse(cron).matches(_at(moment)) is ticks


def test_a_tick_between_two_looks_is_seen_however_late_the_second_look() -> None:
    nightly = CronSchedule.parse("0 3 * * *")
    evening = _at("2026-12-06 22:00")
    assert not nightly.ticked_between(evening, _at("2026-12-07 02:59"))
    assert nightly.ticked_between(evening, _at("2026-12-07 03:00"))
    assert nightly.ticked_between(evening, evening + timedelta(days=400))
    minutely = CronSchedule.parse("* * * * *")
    assert not minutely.ticked_between(_at("2026-12-07 05:31:10"), _at("2026-12-07 05:31:50"))
    assert minutely.ticked_between(_at("2026-12-07 05:31:50"), _at("2026-12-07 05:32:01"))


@pytest.mark.parametrize(
    "cron", ["* * * *", "61 * * * *", "*/0 * * * *", "a b c d e", "5-1 * * * *"]
)
def test_a_schedule_it_cannot_read_is_refused_in_one_line(cron: str) -> None:
    with pytest.raises(ConfigError, match="cron schedule"):
        CronSchedule.parse(cron)
