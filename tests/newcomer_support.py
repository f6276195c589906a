"""Run the Makefile's commands as a user would, against stacks on free ports in temporary state dirs."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from shared.settings.stack import PORTS, ROOT
from tests.conftest import PIPELINE_VARS, stack_ports

# set when the suite runs under `make test`: a nested make would print "Entering directory"
MAKE_RECURSION = {"MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES"}


def user_env(state_dir: Path, demo_state_dir: Path, **extra: str) -> dict[str, str]:
    """A shell as a user has it, except that both kinds of stack keep their state under the test's temp dirs."""
    env = {key: value for key, value in os.environ.items()
           if key not in PIPELINE_VARS and key not in MAKE_RECURSION
           and not key.startswith("PYTEST")}  # NiceGUI's test mode must stay off
    return {**env, "STATE_DIR": str(state_dir), "DEMO_STATE_DIR": str(demo_state_dir), **extra}


def free_ports() -> dict[str, str]:
    """Every port variable of the stack on a free port (never the defaults: others share this machine)."""
    return {PORTS[name][0]: str(port) for name, port in stack_ports().items()}


def make(target: str, env: dict[str, str], timeout: float = 120, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", target, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


# --- the README's fenced sh blocks --------------------------------------------------------------
LIFECYCLE = re.compile(r"make (up|demo|test|down|demo-down|clean-state|bench|setup)\b")
TRAILING_COMMENT = re.compile(r"\s+#\s.*$")


def readme_commands(text: str | None = None) -> list[str]:
    """Each command of the README's ```sh blocks, in order, continuation lines joined."""
    text = (ROOT / "README.md").read_text() if text is None else text
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE):
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return commands


def without_comment(command: str) -> str:
    return TRAILING_COMMENT.sub("", command)


def run_in_one_shell(commands: list[str], env: dict[str, str], timeout: float = 300) -> list[tuple[int, str]]:
    """Run the commands one after another in one bash, as a reader types them: (exit code, output) each."""
    marker = "@@@readme-example@@@"
    script = "".join(f"{{ {command}\n}} 2>&1; printf '\\n{marker} %d\\n' $?\n" for command in commands)
    result = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    outcomes, text = [], result.stdout
    for _ in commands:
        output, sep, rest = text.partition(f"\n{marker} ")
        assert sep, f"the examples' shell stopped early: {result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        code, _, text = rest.partition("\n")
        outcomes.append((int(code), output.strip()))
    return outcomes
