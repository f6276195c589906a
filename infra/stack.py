"""The local stack's command line: `python -m infra.stack up|down` (status, check: infra/status.py).

`up` starts the services (infra/supervisor.py) and sets each one up (infra/bootstrap.py), all
idempotent; `down` stops that supervisord and its children.
"""

from __future__ import annotations

import sys

from infra import running, status
from infra.supervisor import SERVICES, Stack
from shared.errors import PipelineError
from shared.settings.stack import load_stack_config


def up(stack: Stack, services: list[str]) -> int:
    """`make up`: the whole stack (never beside a running demo), recorded, then what happens next."""
    if not services:
        running.refuse_beside("up")
    stack.preflight(services or [name for name, _, _ in SERVICES])
    stack.config.state_dir.mkdir(parents=True, exist_ok=True)
    running.record(stack, "up")
    stack.up(services or None)
    print(f"secrets: {stack.config.secrets_dir}   logs: {stack.config.logs_dir}")
    if not services:
        print("\n".join(status.next_steps(running.as_running("up", stack))))
    return 0


def main(argv: list[str]) -> int:
    commands = {"up", "down"}  # status, check: infra/status.py
    if len(argv) < 1 or argv[0] not in commands:
        print(f"usage: python -m infra.stack {{{'|'.join(sorted(commands))}}} [service...]", file=sys.stderr)
        return 2
    try:
        stack = Stack(load_stack_config())
        if argv[0] == "up":
            return up(stack, argv[1:])
        stack.down()
        print("stack stopped")
        return 0
    except PipelineError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
