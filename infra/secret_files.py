"""The stack's secret files under STATE_DIR/secrets: each written once, from the environment or generated.

User names are fixed; passwords and tokens are generated on the first `make up` and kept.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping

from shared.settings import MINIO_USERS, MLFLOW_USERS
from shared.settings.stack import StackConfig

# secret name -> its value when neither the file nor the environment gives one
SECRET_DEFAULTS: dict[str, Callable[[], str]] = {
    "minio-access-key": lambda: "pipeline",
    "minio-secret-key": lambda: secrets.token_urlsafe(24),
    "mysql-password": lambda: secrets.token_urlsafe(24),
    "basic-auth-user": lambda: "admin",
    "basic-auth-password": lambda: secrets.token_urlsafe(24),
    "minio-webhook-token": lambda: secrets.token_urlsafe(24),
    # one MinIO and one MLflow user per role (shared/settings/functions.py); the MLflow server's session key
    **{name: lambda: secrets.token_urlsafe(24) for name in (*MINIO_USERS.values(), *MLFLOW_USERS.values())},
    "mlflow-flask-secret-key": lambda: secrets.token_urlsafe(32),
    "nats-password": lambda: secrets.token_urlsafe(24),
    "nats-store-key": lambda: secrets.token_urlsafe(32),  # JetStream's encryption at rest: lost key, lost queue
}


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
