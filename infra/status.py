"""What the running stack is doing: `python -m infra.status status|check|env|down [up|demo]`.

    status   each service's state and address, then the pipeline's progress
    check    every service of the stack tested for real, one line each
    env      shell exports to reach the running stack (README: `eval "$(make -s env)"`)
    down     stop the running stack(s); `down demo` stops the demo's only

Each command talks to `make up`'s stack or the demo's, whichever runs (infra/running.py),
and says which. A stopped stack is a plain statement with exit code 0.
"""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import requests

from infra.gateway import runtime
from infra.gateway.stackfile import load_stack_file
from infra.running import RunningStack, nothing_running, running
from infra.schedule import cron_functions
from infra.supervisor import NAME_WIDTH, SERVICES, probe_http
from shared import progress
from shared.batches import BatchInfo, list_batches
from shared.errors import ConfigError, PipelineError, ServiceUnavailable
from shared.health import check_minio, check_mlflow, check_mysql
from shared.registry import Registry

WIDTH = max(NAME_WIDTH, len("training") + 2)  # one column width for services and pipeline rows


def row(*cells: str) -> str:
    """Cells padded to WIDTH, the last one left as it is."""
    return "".join(f"{cell:<{WIDTH}}" for cell in cells[:-1]) + cells[-1]


# --- the cadence: when batches come ------------------------------------------------------------
_EVERY = re.compile(r"@every\s+(\d+)(s|m|h)")
_MINUTES = re.compile(r"(\*|\*/(\d+))\s+\*\s+\*\s+\*\s+\*")


def schedule_seconds(schedule: str) -> float | None:
    """Seconds between two ticks of a cron schedule, for the simple forms the stack uses; None otherwise."""
    text = schedule.strip()
    if every := _EVERY.fullmatch(text):
        return int(every.group(1)) * {"s": 1, "m": 60, "h": 3600}[every.group(2)]
    if minutes := _MINUTES.fullmatch(text):
        return 60 * int(minutes.group(2) or 1)
    return None


def next_tick(schedule_s: float, now: float) -> float:
    """Cron ticks fall on multiples of the interval (the cron-connector's robfig/cron)."""
    return math.floor(now / schedule_s) * schedule_s + schedule_s


def cadence(target: RunningStack) -> tuple[str, float | None, float]:
    """(fetch-batch's schedule, seconds between ticks, seconds between two new batches)."""
    functions = cron_functions(load_stack_file(target.stack.config.stack_file, target.env))
    schedule = functions.get("fetch-batch", "")
    tick = schedule_seconds(schedule)
    period = float(target.env.get("DATA_API_BATCH_PERIOD", "300"))  # the course API's period is 300 s too
    # a batch advances on the first call more than `period` after the last advance
    per_batch = tick * max(1, math.ceil(period / tick)) if tick else period
    return schedule, tick, per_batch


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def clock(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%H:%M:%S UTC")


def next_steps(target: RunningStack, now: float | None = None) -> list[str]:
    """What `make up` says at its end: when the first batch and the first champion come."""
    now = time.time() if now is None else now
    threshold = target.settings().batch_threshold
    schedule, tick, per_batch = cadence(target)
    first = next_tick(tick, now) if tick else None
    when = f"at {clock(first)}" if first else "at its first tick"
    lines = [f"next: the cron fires fetch-batch on {schedule!r}; the first batch comes {when}."]
    if first:
        champion_at = first + (threshold - 1) * per_batch + 60  # about a minute to train and register
        lines.append(f"      One batch every {duration(per_batch)}: the first champion is expected at about "
                     f"{clock(champion_at)} ({threshold} batches x {duration(per_batch)}).")
    lines.append("      `make status` shows the progress. `make demo` shows the whole cycle in about 3 minutes"
                 f"{' (after `make down`)' if target.kind == 'up' else ''}.")
    return lines


# --- status ------------------------------------------------------------------------------------
def pipeline_rows(target: RunningStack) -> list[str]:
    """Batches k/N, training state and champion, as the web app's Pipeline page computes them."""
    settings = progress.status_settings(target.settings())
    registry = Registry(settings)
    threshold = settings.batch_threshold
    lines = []
    try:
        batches = list_batches(settings, settings.group_number)
    except PipelineError as exc:
        batches = None
        lines.append(row("batches", "?", exc.message))
    else:
        newest = batches[-1] if batches else None
        about = f"newest: batch {newest.batch_number}, {newest.rows} rows, {newest.fetched_at}" if newest else "none yet"
        lines.append(row("batches", f"{len(batches)}/{threshold}", about))
    try:
        runs = progress.runs(registry, settings.experiment_name)
        state = progress.training_state(runs, None if batches is None else len(batches), threshold)
        lines.append(row("training", state["state"], state["reason"]))
        champion = progress.champion(registry, settings.model_name, settings.model_alias)
    except PipelineError as exc:
        lines.append(row("training", "?", exc.message))
        return lines
    if champion:
        score = f", accuracy {champion['accuracy']:.3f}" if champion["accuracy"] is not None else ""
        lines.append(row("champion", f"v{champion['version']}", f"{champion['family']}{score}"))
    else:
        lines.append(row("champion", "none", champion_eta(target, batches)))
    return lines


def champion_eta(target: RunningStack, batches: list[BatchInfo] | None) -> str:
    threshold = target.settings().batch_threshold
    if batches is None or len(batches) >= threshold:
        return "training should register one shortly" if batches else "no champion yet"
    _, _, per_batch = cadence(target)
    missing = threshold - len(batches)
    return f"expected in about {duration(missing * per_batch)} ({missing} more batch(es), one every {duration(per_batch)})"


def status(target: RunningStack) -> list[str]:
    lines = [f"{target.title}", row("service", "state", "address")]
    for name, _, _ in SERVICES:
        lines.append(row(name, target.stack.state_of(name), target.stack.address(name)))
    return lines + ["", "pipeline"] + pipeline_rows(target)


# --- check: one row per service; a service without one gets its liveness probe -------------------
def check_gateway(target: RunningStack) -> str:
    url = target.stack.config.url("gateway")
    probe_http("gateway", f"{url}/healthz")
    user, password = (target.stack.config.secret(name) for name in ("basic-auth-user", "basic-auth-password"))
    try:
        response = requests.get(f"{url}/system/functions", auth=(user, password), timeout=5)
    except requests.RequestException as exc:
        raise ServiceUnavailable(f"gateway at {url} is not answering ({type(exc).__name__})") from None
    if response.status_code == 401:
        raise ConfigError("gateway refused the admin credentials: check the basic-auth-* secrets")
    if response.status_code != 200:
        raise ServiceUnavailable(f"gateway's /system/functions answered {response.status_code}")
    return f"{url}: /healthz answers, /system/functions lists {len(response.json())} function(s) for {user}"


def check_functions(target: RunningStack) -> str:
    runtime.probe_functions(target.stack.config)
    return "listening: " + target.stack.address("functions")


def check_cron(target: RunningStack) -> str:
    target.stack.probe("cron")
    schedule, _, _ = cadence(target)
    return f"running, fires fetch-batch on {schedule!r}"


def with_settings(check: Callable, detail: str) -> Callable[[RunningStack], str]:
    def run(target: RunningStack) -> str:
        check(target.settings())
        return detail
    return run


def liveness(name: str) -> Callable[[RunningStack], str]:
    def run(target: RunningStack) -> str:
        target.stack.probe(name)
        return f"answers at {target.stack.address(name)}"
    return run


CHECKS: dict[str, Callable[[RunningStack], str]] = {
    "mysql": with_settings(check_mysql, "accepts the pipeline's user and password on its database"),
    "minio": with_settings(check_minio, "accepts the pipeline's access and secret keys"),
    "mlflow": with_settings(check_mlflow, "/health answers"),
    "functions": check_functions,
    "gateway": check_gateway,
    "cron": check_cron,
}


def check(target: RunningStack) -> tuple[list[str], int]:
    lines, failed = [f"checking {target.title}"], 0
    for name, _, _ in SERVICES:
        try:
            lines.append(row(name, "ok", CHECKS.get(name, liveness(name))(target)))
        except PipelineError as exc:
            lines.append(row(name, "FAILED", exc.message))
            failed += 1
    lines.append(f"{len(SERVICES) - failed} of {len(SERVICES)} services ok")
    return lines, failed


# --- env and down -------------------------------------------------------------------------------
def env_lines(target: RunningStack) -> list[str]:
    config = target.stack.config
    # names the pipeline does not read, so that they never become another stack's settings
    return [
        f"export GATEWAY={config.url('gateway')}",
        f"export OPENFAAS_URL={config.url('gateway')}",  # faas-cli's gateway
        f"export ADMIN={config.secret('basic-auth-user')}:{config.secret('basic-auth-password')}",
        f"export MINIO_LOGIN={config.secret('minio-access-key')}:{config.secret('minio-secret-key')}",
        f"export LOGS={config.logs_dir}",
    ]


def main(argv: list[str]) -> int:
    commands = ("status", "check", "env", "down")
    if not argv or argv[0] not in commands or len(argv) > 2 or argv[1:] not in ([], ["up"], ["demo"]):
        print(f"usage: python -m infra.status {{{'|'.join(commands)}}} [up|demo]", file=sys.stderr)
        return 2
    command, only = argv[0], argv[1:]
    try:
        targets = [target for target in running() if not only or target.kind == only[0]]
        if not targets:
            print(nothing_running(), file=sys.stderr if command == "env" else sys.stdout)
            return 1 if command == "env" else 0
        if command == "env":  # stdout is for eval; the reader still sees which stack it is
            print(f"# {targets[0].title}", file=sys.stderr)
            print("\n".join(env_lines(targets[0])))
            return 0
        failed = 0
        for target in targets:
            if command == "down":
                target.stack.down()
                print(f"stopped {target.title}")
            elif command == "status":
                print("\n".join(status(target)))
            else:
                lines, failures = check(target)
                print("\n".join(lines))
                failed += failures
        return 1 if failed else 0
    except PipelineError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
