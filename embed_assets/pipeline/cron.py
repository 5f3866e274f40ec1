"""When a cron schedule ticks: five fields (minute, hour, day of month, month, day of week).

Dagster reads the same strings, in UTC by default; its cron helpers are not public, so the
source sensor reads them here. Each field is `*`, a number or a name (`JAN`, `MON`), a range
`a-b`, a step `*/n` or `a-b/n`, or a list of those; `@hourly`, `@daily`, `@weekly`,
`@monthly` and `@yearly` stand for their five fields. As in cron, a day matches when either
restricted day field does.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from embed_assets.errors import ConfigError

_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
# (lowest, highest, names from the lowest value on) of each field
_FIELDS = [(0, 59, []), (0, 23, []), (1, 31, []), (1, 12, _MONTHS), (0, 7, _DAYS)]
# past this many minutes since the last tick looked at, one has passed (a year holds one)
_LOOKED_AT_MOST = 366 * 24 * 60


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron string: the values each field matches."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 is Sunday
    any_day: bool  # day of month is `*`
    any_weekday: bool  # day of week is `*`

    @classmethod
    def parse(cls, text: str) -> "CronSchedule":
        """Reads a cron string.

        Raises:
            ConfigError: it is not five fields of the forms above.
        """
        fields = _MACROS.get(text.strip().lower(), text).split()
        if len(fields) != 5:
            raise ConfigError(f"cron schedule {text!r}: five fields are needed, or a @macro")
        values = [
            _field(field, low, high, names, text)
            for field, (low, high, names) in zip(fields, _FIELDS, strict=True)
        ]
        weekdays = frozenset(day % 7 for day in values[4])  # 7 is Sunday too
        return cls(
            text, values[0], values[1], values[2], values[3], weekdays,
            fields[2] == "*", fields[4] == "*",
        )  # fmt: skip

    def matches(self, moment: datetime) -> bool:
        """Tells whether the schedule ticks in the minute of `moment` (in UTC)."""
        moment = moment.astimezone(UTC)
        in_month = moment.day in self.days
        in_week = (moment.isoweekday() % 7) in self.weekdays
        # one day field left at `*`: the other decides; both restricted: either one
        restricted = not (self.any_day or self.any_weekday)
        day = (in_month or in_week) if restricted else (in_month and in_week)
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.month in self.months
            and day
        )

    def ticked_between(self, after: datetime, until: datetime) -> bool:
        """Tells whether the schedule ticked after `after`, up to and including `until`."""
        minute = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(_LOOKED_AT_MOST):
            if minute > until:
                return False
            if self.matches(minute):
                return True
            minute += timedelta(minutes=1)
        return True


def _field(field: str, low: int, high: int, names: list[str], text: str) -> frozenset[int]:
    found: set[int] = set()
    for item in field.split(","):
        span, _, step_text = item.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if span == "*":
                first, last = low, high
            elif "-" in span:
                start, end = span.split("-", 1)
                first, last = _value(start, low, names), _value(end, low, names)
            else:
                first = _value(span, low, names)
                last = high if step_text else first
        except ValueError:
            raise ConfigError(f"cron schedule {text!r}: cannot read {item!r}") from None
        if not (low <= first <= last <= high) or step < 1:
            raise ConfigError(f"cron schedule {text!r}: {item!r} is outside {low}-{high}")
        found.update(range(first, last + 1, step))
    return frozenset(found)


def _value(text: str, low: int, names: list[str]) -> int:
    if text.upper() in names:
        return names.index(text.upper()) + low
    return int(text)
