"""Which stack is running, `make up`'s or the demo's, and how to reach it.

`make up` keeps its state in STATE_DIR (default `.state`), `make demo` in DEMO_STATE_DIR
(default `.state-demo`). Each records, when it starts, the environment its services got
(ports, cadence, names) in `<state dir>/stack.json`, so that `make status`, `make check`,
`make down` and `make env` find it from any shell, whatever ports it was started on.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from infra.supervisor import Stack
from shared.errors import ConfigError
from shared.settings import Settings, load_settings
from shared.settings.stack import ROOT, load_stack_config

RECORD = "stack.json"
TITLES = {"up": "make up's stack", "demo": "the demo's stack"}
STOP_COMMAND = {"up": "make down", "demo": "make demo-down"}


def state_dirs(env: Mapping[str, str]) -> dict[str, Path]:
    """Kind of stack -> the state directory it uses."""
    return {
        "up": Path(env.get("STATE_DIR", ROOT / ".state")).resolve(),
        "demo": Path(env.get("DEMO_STATE_DIR", ROOT / ".state-demo")).resolve(),
    }


def _documented_settings() -> set[str]:
    """The variables .env.example documents: the settings worth recording (credentials are commented out there)."""
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


@dataclass(frozen=True)
class RunningStack:
    kind: str
    stack: Stack
    env: dict[str, str]  # the environment its services got

    @property
    def title(self) -> str:
        return f"{TITLES[self.kind]} (state {shown(self.stack.config.state_dir)})"

    def settings(self) -> Settings:
        return load_settings(self.env)


def shown(path: Path) -> str:
    """A path relative to the checkout when it is inside it (as the README writes them)."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def record(stack: Stack, kind: str, env: Mapping[str, str] | None = None) -> None:
    """Write down where this stack runs and with which settings (no credentials: those are secret files)."""
    env = os.environ if env is None else env
    wanted = _documented_settings()
    settings = {key: value for key, value in env.items() if key in wanted}
    document = {"kind": kind, "env": {**settings, **stack.config.service_env()}}
    (stack.config.state_dir / RECORD).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


def stack_in(kind: str, state_dir: Path, env: Mapping[str, str]) -> RunningStack:
    """The stack kept in `state_dir`, with the settings it recorded (else those of `env`)."""
    recorded: dict[str, str] = {}
    path = state_dir / RECORD
    if path.is_file():
        try:
            recorded = json.loads(path.read_text())["env"]
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"{path} is not a stack record: delete it and restart the stack") from None
    return as_running(kind, Stack(load_stack_config({**env, **recorded, "STATE_DIR": str(state_dir)})),
                      {**env, **recorded})


def as_running(kind: str, stack: Stack, env: Mapping[str, str] | None = None) -> RunningStack:
    env = os.environ if env is None else env
    return RunningStack(kind, stack, {**env, **stack.config.service_env()})


def stacks(env: Mapping[str, str] | None = None) -> list[RunningStack]:
    """Both kinds, running or not (one entry when both use the same state directory)."""
    env = dict(os.environ if env is None else env)
    found: dict[Path, RunningStack] = {}
    for kind, state_dir in state_dirs(env).items():
        found.setdefault(state_dir, stack_in(kind, state_dir, env))
    return list(found.values())


def running(env: Mapping[str, str] | None = None) -> list[RunningStack]:
    return [candidate for candidate in stacks(env) if candidate.stack.supervisor_running()]


def nothing_running(env: Mapping[str, str] | None = None) -> str:
    where = " nor ".join(f"{TITLES[s.kind]} (state {shown(s.stack.config.state_dir)})" for s in stacks(env))
    return f"no stack is running: neither {where}. Start one with `make up` or `make demo`."


def refuse_beside(kind: str, env: Mapping[str, str] | None = None) -> None:
    """ConfigError naming the fix when the other kind of stack is already running."""
    for other in running(env):
        if other.kind != kind:
            want = "make demo" if kind == "demo" else "make up"
            raise ConfigError(
                f"{other.title} is running, and {want} would need the same ports: "
                f"stop it with `{STOP_COMMAND[other.kind]}`, then run `{want}`"
            )
