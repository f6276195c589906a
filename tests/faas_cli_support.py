"""The real faas-cli (linked into .tools/bin by `make setup`), for tests: its config in a
temporary OPENFAAS_CONFIG, pointed at one gateway, never reaching beyond this machine.

    cli = FaasCli(gateway_url, tmp_path)
    cli.login(user, password)                  # login --password-stdin
    out = cli("list", "-v").stdout             # any command; fails the test on a non-zero exit
    cli("remove", "x", check=False)            # or look at the exit code yourself
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from shared.settings.stack import ROOT

FAAS_CLI = ROOT / ".tools" / "bin" / "faas-cli"


def require_faas_cli() -> Path:
    if not FAAS_CLI.exists():
        pytest.fail(f"{FAAS_CLI} is missing: run `make setup` (OPENFAAS_BIN_DIR, PATH or go install)")
    return FAAS_CLI


class FaasCli:
    def __init__(self, gateway: str, config_dir: Path, env: Mapping[str, str] | None = None):
        self.gateway = gateway
        self.config_dir = Path(config_dir)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.env = dict(env or {})

    def __call__(self, *args: str, input: str | bytes | None = None, check: bool = True, cwd: Path = ROOT,
                 env: Mapping[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run `faas-cli ARGS` against the gateway; stdout and stderr as text (bytes if `input` is bytes)."""
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.config_dir),  # faas-cli keeps nothing of the developer's own
            "OPENFAAS_CONFIG": str(self.config_dir),
            "OPENFAAS_URL": self.gateway,
            **self.env, **(env or {}),
        }
        result = subprocess.run([str(require_faas_cli()), *args], input=input, capture_output=True,
                                text=not isinstance(input, bytes), env=full_env, cwd=cwd, timeout=timeout)
        if check and result.returncode != 0:
            pytest.fail(f"faas-cli {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def login(self, user: str, password: str) -> subprocess.CompletedProcess:
        return self("login", "--username", user, "--password-stdin", input=password)
