"""The schedules the cron-connector runs: `topic: cron-function` functions of stack.yml.

cron-connector reads each function's `schedule` annotation with robfig/cron's standard
parser: five fields (minute hour day-of-month month day-of-week) or a descriptor
(`@hourly`, `@daily`, ..., `@every 5s`), and silently skips a function whose schedule
does not parse (a seconds field, a typo). `make up` refuses such a schedule instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from croniter import CroniterError, croniter

from infra.gateway.stackfile import StackFile
from shared.errors import ConfigError

TOPIC = "cron-function"
DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_GO_DURATION = re.compile(r"[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+)")
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


def schedule_ok(schedule: str) -> bool:
    """Whether cron-connector would take this schedule (and so call the function at all)."""
    text = schedule.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):  # robfig's time-zone prefix
        text = text.partition(" ")[2].strip()
    if text.startswith("@every "):
        return bool(_GO_DURATION.fullmatch(text.removeprefix("@every ").strip()))
    if text.startswith("@"):
        return text in DESCRIPTORS
    fields = text.split()
    return len(fields) == len(_FIELDS) and all(_field_ok(f, *spec) for f, spec in zip(fields, _FIELDS, strict=True))


def next_firing(schedule: str, after: datetime) -> datetime | None:
    """When the schedule fires next after `after` (croniter); None for `@every`, which counts from
    the moment cron-connector started rather than from the clock."""
    if not schedule_ok(schedule):
        raise ConfigError(f"schedule {schedule!r} is invalid: cron-connector would skip it")
    text = schedule.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        text = text.partition(" ")[2].strip()
    if text.startswith("@every "):
        return None
    try:
        return croniter(text, after).get_next(datetime)
    except (CroniterError, ValueError) as exc:
        raise ConfigError(f"schedule {schedule!r} is invalid: {exc}") from None


def rebuild_interval(env: Mapping[str, str]) -> str:
    """CRON_REBUILD_INTERVAL (default 3s): how often cron-connector re-reads the gateway's functions."""
    value = env.get("CRON_REBUILD_INTERVAL", "3s").strip()
    if not _GO_DURATION.fullmatch(value) or value.startswith("-") or value == "0":
        raise ConfigError(f"CRON_REBUILD_INTERVAL={value!r} is invalid: use a duration such as 3s or 1m")
    return value


def cron_functions(stack: StackFile) -> dict[str, str]:
    """Function name -> schedule, for every function the cron-connector picks up by its topic."""
    return {
        name: fn.annotations.get("schedule", "")
        for name, fn in stack.functions.items()
        if fn.annotations.get("topic") == TOPIC
    }


def check_schedules(stack: StackFile) -> None:
    """Raise ConfigError naming the first cron function whose schedule cron-connector would drop."""
    for name, schedule in cron_functions(stack).items():
        if not schedule_ok(schedule):
            raise ConfigError(
                f"function {name} in {stack.path.name}: schedule {schedule!r} would be skipped by cron-connector: "
                "use 5 fields (minute hour day month weekday, e.g. '*/5 * * * *'), a descriptor such as @hourly, "
                "or @every with a duration such as '@every 10s' (fetch-batch: FETCH_SCHEDULE)"
            )
