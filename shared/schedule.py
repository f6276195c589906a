"""Cron schedules as OpenFaaS's cron-connector reads them: whether one is taken, and when it fires next.

cron-connector reads each function's `schedule` annotation with robfig/cron's standard
parser: five fields (minute hour day-of-month month day-of-week) or a descriptor
(`@hourly`, `@daily`, ..., `@every 5s`), and silently skips a function whose schedule
does not parse (a seconds field, a typo). `infra.schedule` applies this to stack.yml.
"""

from __future__ import annotations

import re
from datetime import datetime

from croniter import CroniterError, croniter

from shared.errors import ConfigError

TOPIC = "cron-function"  # the stack.yml annotation that makes a function a cron-function
DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
GO_DURATION = re.compile(r"[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+)")
# (lowest, highest, names) of minute, hour, day of month, month, day of week
_FIELDS = [
    (0, 59, []),
    (0, 23, []),
    (1, 31, []),
    (1, 12, ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]),
    (0, 6, ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]),
]


def _value(text: str, lowest: int, names: list[str]) -> int | None:
    if text.isdigit():
        return int(text)
    return names.index(text.lower()) + lowest if text.lower() in names else None


def _field_ok(field: str, lowest: int, highest: int, names: list[str]) -> bool:
    """One field as robfig/cron reads it: comma-separated `*`, `?`, `a` or `a-b`, each with an optional `/step`."""
    for part in field.split(","):
        span, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if span in ("*", "?"):
            continue
        start, _, end = span.partition("-")
        first, last = _value(start, lowest, names), _value(end or start, lowest, names)
        if first is None or last is None or not lowest <= first <= last <= highest:
            return False
    return True


def _without_time_zone(schedule: str) -> str:
    """The schedule without robfig's `TZ=` / `CRON_TZ=` prefix."""
    text = schedule.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        text = text.partition(" ")[2].strip()
    return text


def schedule_ok(schedule: str) -> bool:
    """Whether cron-connector would take this schedule (and so call the function at all)."""
    text = _without_time_zone(schedule)
    if text.startswith("@every "):
        return bool(GO_DURATION.fullmatch(text.removeprefix("@every ").strip()))
    if text.startswith("@"):
        return text in DESCRIPTORS
    fields = text.split()
    return len(fields) == len(_FIELDS) and all(_field_ok(f, *spec) for f, spec in zip(fields, _FIELDS, strict=True))


def next_firing(schedule: str, after: datetime) -> datetime | None:
    """When the schedule fires next after `after` (croniter); None for `@every`, which counts from
    the moment cron-connector started rather than from the clock."""
    if not schedule_ok(schedule):
        raise ConfigError(f"schedule {schedule!r} is invalid: cron-connector would skip it")
    text = _without_time_zone(schedule)
    if text.startswith("@every "):
        return None
    try:
        return croniter(text, after).get_next(datetime)
    except (CroniterError, ValueError) as exc:
        raise ConfigError(f"schedule {schedule!r} is invalid: {exc}") from None
