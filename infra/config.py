"""Where the local stack keeps its state, which ports it uses, and its credentials.

Every value comes from the environment with a default (see `.env.example`); all the
stack's state (databases, objects, logs, generated secrets) lives under STATE_DIR, so
`make down && make up` loses nothing.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.errors import ConfigError
from shared.settings import MINIO_USERS, MLFLOW_USERS

ROOT = Path(__file__).resolve().parent.parent

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

# secret name -> its value when neither the file nor the environment gives one:
# user names are fixed, passwords and tokens are generated on the first `make up`.
SECRET_DEFAULTS: dict[str, Callable[[], str]] = {
    "minio-access-key": lambda: "pipeline",
    "minio-secret-key": lambda: secrets.token_urlsafe(24),
    "mysql-password": lambda: secrets.token_urlsafe(24),
    "basic-auth-user": lambda: "admin",
    "basic-auth-password": lambda: secrets.token_urlsafe(24),
    "minio-webhook-token": lambda: secrets.token_urlsafe(24),
    # one MinIO and one MLflow user per role (shared/settings.py); the MLflow server's session key
    **{name: lambda: secrets.token_urlsafe(24) for name in (*MINIO_USERS.values(), *MLFLOW_USERS.values())},
    "mlflow-flask-secret-key": lambda: secrets.token_urlsafe(32),
    "nats-password": lambda: secrets.token_urlsafe(24),
    "nats-store-key": lambda: secrets.token_urlsafe(32),  # JetStream's encryption at rest: lost key, lost queue
}


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path
    host: str
    ports: dict[str, int] = field(default_factory=dict)
    bin_dir: Path = ROOT / ".tools" / "bin"
    python: Path = Path(sys.executable)
    stack_file: Path = ROOT / "stack.yml"

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


def _port(env: Mapping[str, str], var: str, default: int) -> int:
    raw = env.get(var, str(default))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{var}={raw!r} is invalid: use a TCP port number 1..65535")
    return int(raw)


def load_stack_config(env: Mapping[str, str] | None = None) -> StackConfig:
    env = os.environ if env is None else env
    state_dir = Path(env.get("STATE_DIR", ROOT / ".state")).resolve()
    ports = {name: _port(env, var, default) for name, (var, default) in PORTS.items()}
    stack_file = Path(env.get("STACK_FILE", ROOT / "stack.yml")).resolve()
    return StackConfig(state_dir=state_dir, host=env.get("BIND_HOST", "127.0.0.1"), ports=ports, stack_file=stack_file)


def ensure_secrets(config: StackConfig, env: Mapping[str, str] | None = None) -> None:
    """Write each missing secret file: from the environment if given, else generated."""
    env = os.environ if env is None else env
    config.secrets_dir.mkdir(parents=True, exist_ok=True)
    config.secrets_dir.chmod(0o700)
    for name, default in SECRET_DEFAULTS.items():
        path = config.secrets_dir / name
        if path.is_file() and path.read_text().strip():
            continue
        value = env.get(name.upper().replace("-", "_"), "").strip() or default()
        path.write_text(value + "\n")
        path.chmod(0o600)
