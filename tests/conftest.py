"""Shared fixtures: a clean environment, free ports, and the real services, started once.

`stack` starts MariaDB, MinIO and MLflow under their own supervisord in a temporary
state directory on free loopback ports, so the suite never touches a running
`make up` stack. `settings` points the pipeline's code at that stack.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.supervisor import Stack
from shared.settings import Settings, load_settings
from shared.settings.stack import PORTS, StackConfig
from tests.runtime_support import runtime_stack

# our settings that a developer's shell might set; tests must not inherit them
PIPELINE_VARS = (
    "STATE_DIR", "SECRETS_DIR", "DATA_API_URL", "MINIO_ENDPOINT", "MLFLOW_TRACKING_URI", "GROUP_NUMBER",
    "BATCH_THRESHOLD", "BATCH_BUCKET", "ARTIFACT_BUCKET", "EXPERIMENT_NAME", "MODEL_NAME", "MYSQL_HOST",
    "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "MYSQL_PASSWORD", *(var for var, _ in PORTS.values()),
    "STACK_FILE", "GATEWAY_URL", "GATEWAY_ASYNC_WORKERS", "GATEWAY_ASYNC_MAX_ATTEMPTS", "GATEWAY_RETRY_DELAY",
    "SERVICE_ROLE",
    "GATEWAY_MAX_REPLICAS", "GATEWAY_SCALE_FROM_ZERO_TIMEOUT",
    "GATEWAY_QUEUE_MAX_CALLS", "GATEWAY_QUEUE_MAX_BYTES", "GATEWAY_ACK_WAIT", "GATEWAY_CALLBACK_HOSTS", "NATS_MAX_PAYLOAD",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for var in PIPELINE_VARS:
        monkeypatch.delenv(var, raising=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FUNCTION_PORTS = 64  # a test stack's functions and their replicas, from FUNCTIONS_PORT_BASE up


def stack_ports() -> dict[str, int]:
    """A port for each service of a stack (`PORTS`), all from one block of free ports below the
    kernel's ephemeral range, the functions' consecutive ports at its end.

    The functions and their replicas bind only when each process starts (and again after each
    restart), the services a few seconds after their ports are chosen. Inside the ephemeral
    range an outgoing connection can take one of them first: a CI run once saw fn-worker fail
    with "Address already in use". Outgoing connections never take a port below it.
    """
    services = [name for name in PORTS if name != "functions"]
    base = free_port_block(len(services) + FUNCTION_PORTS)
    return {**{name: base + offset for offset, name in enumerate(services)}, "functions": base + len(services)}


def free_port_block(size: int) -> int:
    """The first of `size` consecutive ports, all free now, between 10000 and the ephemeral range."""
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(200):
        base = random.randrange(10000, ephemeral_low - size)
        if all(_bindable(port) for port in range(base, base + size)):
            return base
    raise RuntimeError(f"no {size} consecutive free ports between 10000 and {ephemeral_low}")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def make_stack_config(state_dir: Path) -> StackConfig:
    return StackConfig(state_dir=state_dir, host="127.0.0.1", ports=stack_ports())


@contextlib.contextmanager
def running_stack(state_dir: Path, services=("mysql", "minio", "mlflow")) -> Iterator[Stack]:
    """A stack of its own in `state_dir` on free ports, with `services` up; all of it stopped on exit."""
    started = Stack(make_stack_config(state_dir))
    try:
        started.up(list(services), progress=lambda line: None)
        if "mlflow" not in services:  # the caller's MLflow credentials stay as they are
            yield started
            return
        with admin_mlflow_client_env(started):
            yield started
    finally:
        started.down()


@contextlib.contextmanager
def admin_mlflow_client_env(stack: Stack) -> Iterator[None]:
    """The stack admin's credentials where MLflow's own client looks for them, while the block runs."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_USERNAME", stack.config.secret("basic-auth-user"))
        patch.setenv("MLFLOW_TRACKING_PASSWORD", stack.config.secret("basic-auth-password"))
        yield


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    """MariaDB, MinIO and MLflow, real, for the whole test session."""
    with running_stack(tmp_path_factory.mktemp("stack")) as started:
        yield started


@pytest.fixture
def stack_env(stack, monkeypatch) -> dict[str, str]:
    """The process environment pointed at the test stack (as the functions see it locally), with
    the stack admin's MLflow credentials where MLflow's own client looks for them."""
    env = stack.config.service_env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", stack.config.secret("basic-auth-user"))
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", stack.config.secret("basic-auth-password"))
    return env


@pytest.fixture
def settings(stack_env) -> Settings:
    return load_settings(os.environ)


@pytest.fixture(scope="session")
def gateway(stack) -> str:
    """The gateway and every function of stack.yml with a handler, on the session stack: its URL.

    Call `{gateway}/function/predict`; `/system/*` takes basic auth from
    `stack.config.secret("basic-auth-user")` / `("basic-auth-password")`. For a stack file of
    your own (no databases needed), use `tests.runtime_support.runtime_stack`.
    """
    stack.up(["nats", "functions", "gateway"], progress=lambda line: None)
    return stack.config.url("gateway")


@pytest.fixture(scope="session")
def prometheus(stack, gateway) -> str:
    """Prometheus scraping the session gateway's /metrics (every PROMETHEUS_SCRAPE_INTERVAL, 5 s): its URL."""
    stack.up(["prometheus"], progress=lambda line: None)
    return stack.config.url("prometheus")


@pytest.fixture(scope="module")
def runtime(tmp_path_factory, request) -> Iterator[Stack]:
    """The runtime tests' own gateway + functions stack (tests/fixtures/stack.yml: `echo`, `worker`, and `absent`
    whose handler does not exist), for one test module. A module wanting other settings defines its own `runtime`
    (`tests.runtime_support.runtime_stack`); `url` and `auth` follow it."""
    with runtime_stack(tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2])) as started:
        yield started


@pytest.fixture(scope="module")
def url(runtime) -> str:
    """The module's runtime gateway: `{url}/function/echo`."""
    return runtime.config.url("gateway")


@pytest.fixture(scope="module")
def auth(runtime) -> tuple[str, str]:
    """The basic-auth credentials of the runtime gateway's `/system/*`."""
    return runtime.config.secret("basic-auth-user"), runtime.config.secret("basic-auth-password")
