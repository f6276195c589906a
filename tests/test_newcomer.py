"""What a newcomer sees: a stopped stack, what `make up` says comes next, `make demo` beside
`make up` and a demo that fails, the README's links. (The commands against running stacks:
test_readme_examples.py.)"""

from __future__ import annotations

import re
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra import running, status
from infra.supervisor import Stack
from shared.settings.stack import ROOT
from tests.conftest import make_stack_config
from tests.newcomer_support import free_ports, make, user_env


@pytest.fixture
def dirs(tmp_path) -> tuple[Path, Path]:
    return tmp_path / "state", tmp_path / "state-demo"


def test_stopped_stack_is_a_plain_statement(dirs):
    env = user_env(*dirs)
    expected = (f"no stack is running: neither make up's stack (state {dirs[0]}) nor the demo's stack "
                f"(state {dirs[1]}). Start one with `make up` or `make demo`.\n")
    for target in ("status", "check", "down", "demo-down"):
        result = make(target, env)
        assert (result.returncode, result.stdout, result.stderr) == (0, expected, ""), target


def test_env_without_a_stack_fails_naming_the_fix(dirs):
    result = subprocess.run([str(ROOT / ".venv/bin/python"), "-m", "infra.status", "env"], cwd=ROOT,
                            env=user_env(*dirs), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.endswith("Start one with `make up` or `make demo`.\n")


@pytest.mark.parametrize(("schedule", "seconds"), [
    ("*/5 * * * *", 300), ("* * * * *", 60), ("@every 5s", 5), ("@every 2m", 120), ("@hourly", None), ("0 3 * * *", None),
])
def test_schedule_seconds(schedule, seconds):
    assert status.schedule_seconds(schedule) == seconds


@pytest.mark.parametrize(("env", "expected"), [
    ({}, [
        "next: the cron fires fetch-batch on '*/5 * * * *'; the first batch comes at 21:10:00 UTC.",
        "      One batch every 5 min: the first champion is expected at about 21:56:00 UTC (10 batches x 5 min).",
        "      `make status` shows the progress. `make demo` shows the whole cycle in about 3 minutes "
        "(after `make down`).",
    ]),
    ({"FETCH_SCHEDULE": "@every 5s", "DATA_API_BATCH_PERIOD": "8"}, [
        "next: the cron fires fetch-batch on '@every 5s'; the first batch comes at 21:07:25 UTC.",
        "      One batch every 10 s: the first champion is expected at about 21:09:55 UTC (10 batches x 10 s).",
        "      `make status` shows the progress. `make demo` shows the whole cycle in about 3 minutes "
        "(after `make down`).",
    ]),
])
def test_make_up_says_when_the_first_batch_and_champion_come(tmp_path, env, expected):
    target = running.as_running("up", Stack(make_stack_config(tmp_path)), env)
    now = datetime(2026, 12, 1, 21, 7, 23, tzinfo=UTC).timestamp()
    assert status.next_steps(target, now) == expected


def test_columns_line_up():
    lines = [status.row(name, "RUNNING", "address") for name in ("mysql", "functions", "training")]
    assert {line.index("RUNNING") for line in lines} == {status.WIDTH}


@pytest.mark.parametrize(("runs", "start", "fix"), [("up", "demo", "make down"), ("demo", "up", "make demo-down")])
def test_one_kind_refuses_to_start_beside_the_other(dirs, runs, start, fix):
    """A running stack of one kind (its Data API stand-in is enough) and the other kind's start command."""
    state_dir, demo_dir = dirs
    where = {"up": state_dir, "demo": demo_dir}
    other = Stack(make_stack_config(where[runs]))
    try:
        other.up(["data-api"], progress=lambda line: None)
        running.record(other, runs)
        result = make(start, user_env(state_dir, demo_dir, **free_ports()), timeout=300)
        assert result.returncode != 0
        assert result.stderr.splitlines()[0] == (
            f"error: {running.TITLES[runs]} (state {where[runs]}) is running, and make {start} would need the same "
            f"ports: stop it with `{fix}`, then run `make {start}`"
        )
        assert not where[start].exists()  # nothing started, nothing written

        shown = make("status", user_env(state_dir, demo_dir))
        assert shown.returncode == 0 and shown.stdout.startswith(f"{running.TITLES[runs]} (state {where[runs]})\n")
        assert re.search(r"^data-api\s+RUNNING\s+http://127\.0\.0\.1:\d+$", shown.stdout, re.MULTILINE)
        assert re.search(r"^mysql\s+STOPPED\s", shown.stdout, re.MULTILINE)
        assert re.search(r"^batches\s+\?\s+MinIO at 127\.0\.0\.1:\d+ is not reachable", shown.stdout, re.MULTILINE)
    finally:
        other.down()


def test_a_failed_demo_leaves_nothing_running(dirs):
    state_dir, demo_dir = dirs
    ports = free_ports()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports["MYSQL_PORT"] = str(taken.getsockname()[1])
        result = make("demo", user_env(state_dir, demo_dir, **ports), timeout=300)
    assert result.returncode != 0
    assert result.stderr.splitlines()[0] == (
        f"error: port {ports['MYSQL_PORT']} for mysql (MYSQL_PORT) is already in use on 127.0.0.1: stop what holds "
        f"it or set MYSQL_PORT to a free port; the demo's stack is stopped (logs: {demo_dir / 'logs'})"
    )
    assert not running.stacks(user_env(state_dir, demo_dir))[1].stack.supervisor_running()
    assert make("status", user_env(state_dir, demo_dir)).stdout.startswith("no stack is running")


def test_readme_links_stay_inside_the_repository():
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert links, "the README links its docs"
    for link in links:
        if link.startswith("#"):  # a heading of the README itself
            continue
        assert "://" not in link and not link.startswith(("/", "..")), link
        assert (ROOT / link.split("#")[0]).exists(), link
