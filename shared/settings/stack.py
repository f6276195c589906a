"""The local stack's settings: where it keeps its state, its address and ports, how its services run.

Every value comes from the environment with a default (see `.env.example`); all the
stack's state (databases, objects, logs, generated secrets) lives under STATE_DIR, so
`make down && make up` loses nothing. Its secrets are written by infra/secret_files.py.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.schedule import GO_DURATION
from shared.settings.core import HOST, PATH, PORT, SECONDS, Rule, at_least, matching, read

ROOT = Path(__file__).resolve().parents[2]  # the repository

# service name -> (environment variable, default port)
PORTS: dict[str, tuple[str, int]] = {
    "mysql": ("MYSQL_PORT", 3306),
    "minio": ("MINIO_PORT", 9000),
    "minio-console": ("MINIO_CONSOLE_PORT", 9001),
    "mlflow": ("MLFLOW_PORT", 5000),
    "gateway": ("GATEWAY_PORT", 8080),
    "functions": ("FUNCTIONS_PORT_BASE", 8100),  # one port per function of stack.yml, from this one up
    "data-api": ("DATA_API_PORT", 8090),
    "ui": ("UI_PORT", 8503),
    "prometheus": ("PROMETHEUS_PORT", 9090),
    "nats": ("NATS_PORT", 4222),  # NATS JetStream, the gateway's async queue (no monitoring port)
}

DURATION = matching(r"([0-9]+(ms|s|m|h|d|w|y))+", "use a duration such as 5s or 1m")  # as Prometheus reads one


def _go_duration_above_zero(raw: str) -> str:
    """As cron-connector reads its rebuild interval."""
    if not GO_DURATION.fullmatch(raw) or raw.startswith("-") or raw == "0":
        raise ValueError(raw)
    return raw


REBUILD = Rule(_go_duration_above_zero, "use a duration such as 3s or 1m")
SYNC = matching(r"always|[0-9]+(ms|s|m)", "use always, or a duration such as 500ms, 10s, 2m")


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path
    host: str
    ports: dict[str, int] = field(default_factory=dict)
    bin_dir: Path = ROOT / ".tools" / "bin"
    python: Path = Path(sys.executable)
    stack_file: Path = ROOT / "stack.yml"
    # how infra/launch.py configures Prometheus, NATS and cron-connector, and how long `make demo` waits
    prometheus_scrape_interval: str = "5s"
    nats_max_payload: int = 8 * 1024 * 1024
    nats_sync_interval: str = "always"
    cron_rebuild_interval: str = "3s"  # how often cron-connector re-reads the gateway's functions
    demo_timeout: float = 600.0

    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "secrets"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def mysql_socket(self) -> Path:
        return self.state_dir / "mysql" / "mysqld.sock"

    def url(self, service: str) -> str:
        return f"http://{self.host}:{self.ports[service]}"

    def secret(self, name: str) -> str:
        return (self.secrets_dir / name).read_text().strip()

    def service_env(self) -> dict[str, str]:
        """The environment every process of the stack gets: ports, addresses, secrets dir."""
        env = {var: str(self.ports[name]) for name, (var, _) in PORTS.items()}
        env.update(
            STATE_DIR=str(self.state_dir),
            BIND_HOST=self.host,
            SECRETS_DIR=str(self.secrets_dir),
            MINIO_ENDPOINT=f"{self.host}:{self.ports['minio']}",
            MLFLOW_TRACKING_URI=self.url("mlflow"),
            MYSQL_HOST=self.host,
            DATA_API_URL=self.url("data-api"),
            GATEWAY_URL=self.url("gateway"),
            STACK_FILE=str(self.stack_file),
            PYTHONPATH=str(ROOT),
            # `import mlflow` starts a telemetry client that calls an outside address
            MLFLOW_DISABLE_TELEMETRY="true",
            DO_NOT_TRACK="true",
        )
        return env


def load_stack_config(env: Mapping[str, str] | None = None) -> StackConfig:
    env = os.environ if env is None else env
    return StackConfig(
        state_dir=read(env, "STATE_DIR", str(ROOT / ".state"), PATH).resolve(),
        host=read(env, "BIND_HOST", "127.0.0.1", HOST),
        ports={name: read(env, var, str(default), PORT) for name, (var, default) in PORTS.items()},
        stack_file=read(env, "STACK_FILE", str(ROOT / "stack.yml"), PATH).resolve(),
        prometheus_scrape_interval=read(env, "PROMETHEUS_SCRAPE_INTERVAL", "5s", DURATION),
        nats_max_payload=read(env, "NATS_MAX_PAYLOAD", str(8 * 1024 * 1024), at_least(int, 1024)),
        nats_sync_interval=read(env, "NATS_SYNC_INTERVAL", "always", SYNC),
        demo_timeout=read(env, "DEMO_TIMEOUT", "600", SECONDS),
        cron_rebuild_interval=read(env, "CRON_REBUILD_INTERVAL", "3s", REBUILD),
    )
