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


@pytest.mark.services
def test_cron_fires_the_function_through_the_gateway(tmp_path):
    """supercronic, on a one-second schedule, invokes the function through the real gateway."""
    import time

    import requests

    from tests.runtime_support import FIXTURES, runtime_stack

    stack_file = tmp_path / "stack.yml"
    stack_file.write_text(
        "version: 1.0\nprovider: {name: openfaas, gateway: http://127.0.0.1:8080}\nfunctions:\n"
        f"  ticker:\n    lang: python3-http-debian\n    handler: {FIXTURES / 'functions' / 'echo'}\n"
        "    annotations: {topic: cron-function, schedule: '@every 1s'}\n"
    )
    with runtime_stack(tmp_path / "state", stack_file) as stack:
        stack.up(["cron"], progress=lambda line: None)
        auth = (stack.config.secret("basic-auth-user"), stack.config.secret("basic-auth-password"))
        url = f"{stack.config.url('gateway')}/system/function/ticker"
        deadline = time.monotonic() + 20
        count = 0
        while count < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            count = requests.get(url, auth=auth, timeout=5).json()["invocationCount"]
        log = (stack.config.logs_dir / "cron.log").read_text()
    assert count >= 2, f"cron fired {count} time(s) in 20 s; its log:\n{log}"
    assert "cron: ticker -> 200" in log
