"""The schedules the cron-connector runs: `topic: cron-function` functions of stack.yml.

cron-connector silently skips a function whose schedule does not parse
(`shared.schedule.schedule_ok` says which); `make up` refuses such a schedule instead.
"""

from __future__ import annotations

from infra.gateway.stackfile import StackFile
from shared.errors import ConfigError
from shared.schedule import TOPIC, schedule_ok


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
