"""The schedules the cron-connector runs: `topic: cron-function` functions of stack.yml.

cron-connector silently skips a function whose schedule does not parse
(`shared.schedule.schedule_ok` says which); `make up` refuses such a schedule instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from infra.gateway.stackfile import StackFile
from shared.errors import ConfigError
from shared.schedule import GO_DURATION, TOPIC, schedule_ok


def rebuild_interval(env: Mapping[str, str]) -> str:
    """CRON_REBUILD_INTERVAL (default 3s): how often cron-connector re-reads the gateway's functions."""
    value = env.get("CRON_REBUILD_INTERVAL", "3s").strip()
    if not GO_DURATION.fullmatch(value) or value.startswith("-") or value == "0":
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
