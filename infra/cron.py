"""The schedule trigger: `topic: cron-function` annotations in stack.yml, fired through the gateway.

OpenFaaS's cron-connector cannot be built here (the Go module proxy refuses every
github.com/openfaas/* module), so the local stack runs supercronic, an established
cron for containers, on a crontab made from the same annotations the cron-connector
reads; each line invokes the function through the gateway, as the connector does.

    python -m infra.cron crontab PATH   write the crontab for the current stack.yml
    python -m infra.cron invoke NAME    call /function/NAME once and log one line
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
from pathlib import Path

import requests

from infra.gateway.settings import load_gateway_settings
from infra.gateway.stackfile import StackFile, load_stack_file
from shared.errors import ConfigError

_EVERY = re.compile(r"@every\s+(\d+)(s|m|h)")


def to_crontab_schedule(schedule: str) -> str:
    """A cron-connector schedule as supercronic reads it.

    Five-field expressions and @hourly-style macros pass through; `@every Ns` (the
    robfig/cron form the cron-connector accepts) becomes a seconds-field expression.
    """
    text = schedule.strip()
    every = _EVERY.fullmatch(text)
    if not every:
        if text.startswith("@every"):
            raise ConfigError(f"schedule {schedule!r} is invalid: use @every Ns, Nm or Nh")
        return text
    amount, unit = int(every.group(1)), every.group(2)
    limits = {"s": 60, "m": 60, "h": 24}
    if amount < 1 or limits[unit] % amount:
        raise ConfigError(f"schedule {schedule!r} is invalid: the interval must divide the {unit} cycle evenly")
    step = f"*/{amount}"
    fields = {"s": [step, "*", "*"], "m": ["0", step, "*"], "h": ["0", "0", step]}[unit]
    return " ".join(fields + ["*", "*", "*", "*"])


def cron_functions(stack: StackFile) -> dict[str, str]:
    """Function name -> schedule, for every function the cron-connector would pick up."""
    return {
        name: fn.annotations["schedule"]
        for name, fn in stack.functions.items()
        if fn.annotations.get("topic") == "cron-function" and fn.annotations.get("schedule")
    }


def write_crontab(path: Path, stack: StackFile) -> list[str]:
    python = shlex.quote(sys.executable)
    lines = [
        f"{to_crontab_schedule(schedule)} {python} -m infra.cron invoke {shlex.quote(name)}"
        for name, schedule in cron_functions(stack).items()
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return lines


def invoke(name: str) -> int:
    settings = load_gateway_settings()
    url = f"http://{settings.host}:{settings.port}/function/{name}"
    timeout = load_stack_file(settings.stack_file, os.environ).functions[name].timeout
    started = time.monotonic()
    try:
        response = requests.post(url, data=b"", timeout=timeout, headers={"X-Connector": "cron"})
    except requests.RequestException as exc:
        print(f"cron: {name} not reached at {url} ({type(exc).__name__})", flush=True)
        return 1
    elapsed = time.monotonic() - started
    print(f"cron: {name} -> {response.status_code} in {elapsed:.2f}s {response.text[:300]}", flush=True)
    return 0 if response.ok else 1


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "crontab":
        settings = load_gateway_settings()
        for line in write_crontab(Path(argv[1]), load_stack_file(settings.stack_file, os.environ)):
            print(f"cron: {line}")
        return 0
    if len(argv) == 2 and argv[0] == "invoke":
        return invoke(argv[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
