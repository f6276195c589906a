"""A function as `faas-cli up` ships it, without a container engine: the build context that
`faas-cli build --shrinkwrap` writes, run behind the real of-watchdog with the environment
its Dockerfile sets plus the function's `environment:` from stack.yml, in a network
namespace of its own (tests/netns_support.py) bridged to the services it calls.

The build context stands in for the image's WORKDIR (/home/app); the virtualenv's
`python` for the image's (its packages are the function's requirements); SECRETS_DIR, a
folder with the function's declared secrets, for the /var/openfaas/secrets mount.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from infra.gateway.stackfile import Function
from shared.settings.stack import ROOT
from tests.faas_cli_support import FaasCli
from tests.netns_support import NetworkNamespace

OF_WATCHDOG = ROOT / ".tools" / "bin" / "of-watchdog"
IMAGE_WORKDIR = "/home/app"
WATCHDOG_PORT = 8080  # of-watchdog's default `port`; the Dockerfile keeps it
PROJECT_FILES = ("stack.yml", "template", "functions", "shared")


def shrinkwrap(work: Path) -> Path:
    """Copy the project's stack into `work`, run `faas-cli build --shrinkwrap` there; its build/ folder."""
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, work / name)
    FaasCli("http://127.0.0.1:9", work / "openfaas")("build", "--shrinkwrap", "-f", "stack.yml", cwd=work)
    return work / "build"  # faas-cli writes build/<function> beside the stack file it was run in


def dockerfile_env(dockerfile: Path) -> dict[str, str]:
    """Every `ENV KEY="value" ...` of a Dockerfile (continuation lines joined)."""
    env: dict[str, str] = {}
    for line in dockerfile.read_text().replace("\\\n", " ").splitlines():
        if line.startswith("ENV "):
            for word in shlex.split(line)[1:]:
                key, _, value = word.partition("=")
                env[key] = value
    return env


def container_env(context: Path, function: Function, secrets_dir: Path, tmp_dir: Path) -> dict[str, str]:
    image = {key: value.replace(IMAGE_WORKDIR, str(context)) for key, value in dockerfile_env(context / "Dockerfile").items()}
    return {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
        "HOME": str(context), "HOSTNAME": function.name,
        "TMPDIR": str(tmp_dir),  # of-watchdog's lock file (/tmp/.lock in the container)
        "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
        **image, **function.environment, "SECRETS_DIR": str(secrets_dir),
    }


@contextlib.contextmanager
def behind_watchdog(context: Path, function: Function, secrets_dir: Path, reach: Iterable[int],
                    log_path: Path) -> Iterator[str]:
    """The function of build context `context` behind of-watchdog; yields a loopback URL of this
    machine that leads to the watchdog's port in the namespace. `reach`: the loopback ports
    (MinIO, MLflow, the Data API) the function may call, the same numbers inside."""
    tmp_dir = log_path.parent / f"{function.name}-tmp"
    tmp_dir.mkdir(exist_ok=True)
    env = container_env(context, function, secrets_dir, tmp_dir)
    upstream_port = urlsplit(env["upstream_url"]).port
    with NetworkNamespace() as ns:
        for port in reach:
            ns.reach(port)
        with open(log_path, "ab") as log:
            watchdog = ns.popen([str(OF_WATCHDOG)], env=env, cwd=context, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            ns.wait_for_port(WATCHDOG_PORT, 30, watchdog)
            ns.wait_for_port(upstream_port, 90, watchdog)  # index.py, started by the watchdog as fprocess
            yield f"http://127.0.0.1:{ns.expose(WATCHDOG_PORT)}"
        finally:
            os.killpg(watchdog.pid, signal.SIGKILL)  # SIGTERM would wait out write_timeout, as in a pod
            watchdog.wait(10)
