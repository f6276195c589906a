"""The schedule trigger: cron-connector annotations in stack.yml become supercronic's crontab."""

import pytest

from infra.cron import cron_functions, to_crontab_schedule, write_crontab
from infra.gateway.stackfile import load_stack_file
from shared.errors import ConfigError

STACK = """
version: 1.0
provider: {name: openfaas, gateway: http://127.0.0.1:8080}
functions:
  ticker:
    lang: python3-http-debian
    handler: ./ticker
    annotations:
      topic: cron-function
      schedule: "${TICK_SCHEDULE:-*/5 * * * *}"
  quiet:
    lang: python3-http-debian
    handler: ./quiet
    annotations: {topic: other}
"""


@pytest.mark.parametrize(
    "schedule, crontab",
    [
        ("*/5 * * * *", "*/5 * * * *"),
        ("@hourly", "@hourly"),
        ("@every 10s", "*/10 * * * * * *"),
        ("@every 2m", "0 */2 * * * * *"),
        ("@every 6h", "0 0 */6 * * * *"),
    ],
)
def test_schedules_as_supercronic_reads_them(schedule, crontab):
    assert to_crontab_schedule(schedule) == crontab


@pytest.mark.parametrize("schedule", ["@every 7s", "@every 0s", "@every ten"])
def test_an_impossible_interval_is_refused_by_name(schedule):
    with pytest.raises(ConfigError, match=r"^schedule '@every"):
        to_crontab_schedule(schedule)


def test_only_cron_functions_get_a_line(tmp_path):
    (tmp_path / "stack.yml").write_text(STACK)
    stack = load_stack_file(tmp_path / "stack.yml", {"TICK_SCHEDULE": "@every 2s"})
    assert cron_functions(stack) == {"ticker": "@every 2s"}
    lines = write_crontab(tmp_path / "crontab", stack)
    assert len(lines) == 1
    assert lines[0].startswith("*/2 * * * * * * ") and lines[0].endswith("-m infra.cron invoke ticker")
    assert (tmp_path / "crontab").read_text() == lines[0] + "\n"


def test_default_schedule_is_every_five_minutes(tmp_path):
    (tmp_path / "stack.yml").write_text(STACK)
    assert cron_functions(load_stack_file(tmp_path / "stack.yml", {})) == {"ticker": "*/5 * * * *"}
