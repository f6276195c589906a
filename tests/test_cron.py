"""The schedule trigger: OpenFaaS's cron-connector calling stack.yml's cron-functions through the gateway,
and `make up` refusing a schedule the connector would skip."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests

from infra.gateway.stackfile import load_stack_file
from infra.schedule import check_schedules, cron_functions
from infra.supervisor import Stack
from shared.errors import ConfigError
from shared.settings.stack import ROOT, load_stack_config
from tests.runtime_support import FIXTURES, runtime_stack

STACK = """
version: 1.0
provider: {name: openfaas, gateway: http://127.0.0.1:8080}
functions:
  ticker:
    lang: python3-http-debian
    handler: %(handler)s
    annotations:
      topic: cron-function
      schedule: "${TICK_SCHEDULE:-*/5 * * * *}"
  quiet:
    lang: python3-http-debian
    handler: %(handler)s
    annotations: {topic: other}
"""


def write_stack(tmp_path, handler="./ticker"):
    path = tmp_path / "stack.yml"
    path.write_text(STACK % {"handler": handler})
    return path


def test_only_the_cron_topic_is_scheduled(tmp_path):
    stack = load_stack_file(write_stack(tmp_path), {"TICK_SCHEDULE": "@every 2s"})
    assert cron_functions(stack) == {"ticker": "@every 2s"}
    assert cron_functions(load_stack_file(write_stack(tmp_path), {})) == {"ticker": "*/5 * * * *"}


def test_a_schedule_it_would_skip_is_refused_by_name(tmp_path):
    stack = load_stack_file(write_stack(tmp_path), {"TICK_SCHEDULE": "*/10 * * * * *"})
    with pytest.raises(ConfigError, match=r"^function ticker in stack.yml: schedule '\*/10 \* \* \* \* \*' would be skipped"):
        check_schedules(stack)


@pytest.mark.parametrize("value", ["3", "soon", "-1s", "0"])
def test_a_bad_rebuild_interval_is_named(value):
    with pytest.raises(ConfigError, match=r"^CRON_REBUILD_INTERVAL=.* use a duration such as 3s"):
        load_stack_config({"CRON_REBUILD_INTERVAL": value})
    assert load_stack_config({}).cron_rebuild_interval == "3s"
    assert load_stack_config({"CRON_REBUILD_INTERVAL": "1m"}).cron_rebuild_interval == "1m"


def test_make_up_refuses_it_with_one_line_before_starting_anything(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "STATE_DIR": str(tmp_path / "state"), "STACK_FILE": str(write_stack(tmp_path)),
           "TICK_SCHEDULE": "@every 5x"}
    result = subprocess.run([sys.executable, "-m", "infra.stack", "up"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: function ticker in stack.yml: schedule '@every 5x' would be skipped by cron-connector: use 5 fields "
        "(minute hour day month weekday, e.g. '*/5 * * * *'), a descriptor such as @hourly, or @every with a "
        "duration such as '@every 10s' (fetch-batch: FETCH_SCHEDULE)"
    ]
    assert not (tmp_path / "state").exists()


def test_the_project_stack_file_schedules_fetch_batch_only():
    stack = load_stack_file(ROOT / "stack.yml", {})
    assert cron_functions(stack) == {"fetch-batch": "*/5 * * * *"}
    check_schedules(stack)


def invocations(stack: Stack, name: str) -> int:
    auth = (stack.config.secret("basic-auth-user"), stack.config.secret("basic-auth-password"))
    url = f"{stack.config.url('gateway')}/system/function/{name}"
    return requests.get(url, auth=auth, timeout=5).json()["invocationCount"]


@pytest.mark.services
def test_cron_connector_fires_the_function_through_the_gateway_once_a_period(tmp_path):
    """The real cron-connector, on `@every 2s`, calls the function through the real gateway:
    at least twice, and one call a period (no second scheduler beside it)."""
    stack_file = write_stack(tmp_path, handler=str(FIXTURES / "functions" / "echo"))
    with runtime_stack(tmp_path / "state", stack_file, env={"TICK_SCHEDULE": "@every 2s"}) as stack:
        stack.up(["cron"], progress=lambda line: None)
        deadline = time.monotonic() + 30
        while invocations(stack, "ticker") < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        first, started = invocations(stack, "ticker"), time.monotonic()
        time.sleep(12)
        calls, elapsed = invocations(stack, "ticker") - first, time.monotonic() - started
        quiet = invocations(stack, "quiet")
        running = {program for program, state in stack.states().items() if state == "RUNNING"}
        log = (stack.config.logs_dir / "cron.log").read_text()
    assert first >= 2, f"cron-connector fired {first} time(s) in 30 s; its log:\n{log}"
    periods = elapsed / 2
    assert periods - 1.5 <= calls <= periods + 1.5, f"{calls} calls in {elapsed:.1f} s on @every 2s; log:\n{log}"
    assert quiet == 0
    assert running == {"nats", "gateway", "cron", "fn-ticker", "fn-quiet"}, running  # the queue, not a scheduler
    assert "Response: ticker [200]" in log
