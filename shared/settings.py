"""Every setting the pipeline reads, with its default, validated in one place.

Settings come from the environment (see `.env.example` for the full list).
Credentials come from OpenFaaS secret files, `$SECRETS_DIR/<name>` (default
`/var/openfaas/secrets`), falling back to an environment variable named after the
secret (`minio-secret-key` -> `MINIO_SECRET_KEY`) for local runs.

Each part of the pipeline has its own MinIO and MLflow user, named after its role
(`SERVICE_ROLE`, set per function in stack.yml); the user name is the role, the password
a secret of its own (the tables below). Without a role (tests, `make` targets run by
the stack's owner) the stack's root/admin credentials are used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from shared.errors import ConfigError

T = TypeVar("T")

DEFAULT_SECRETS_DIR = "/var/openfaas/secrets"
DEFAULT_MODEL_ALIAS = "champion"  # the alias predict serves and training moves (MODEL_ALIAS)

# role -> the secret holding its MinIO secret key (its access key is the role's name)
MINIO_USERS: dict[str, str] = {
    "fetch-batch": "minio-fetch-batch-secret-key",
    "train-model": "minio-train-model-secret-key",
    "web-ui": "minio-web-ui-secret-key",
    "mlflow": "minio-mlflow-secret-key",  # the MLflow server, owner of the artifact bucket
}
# role -> the secret holding its MLflow password (its user name is the role's name)
MLFLOW_USERS: dict[str, str] = {
    "fetch-batch": "mlflow-fetch-batch-password",  # reads the champion's lineage for a batch's drift report
    "train-model": "mlflow-train-model-password",
    "predict": "mlflow-predict-password",
    "web-ui": "mlflow-web-ui-password",
}
# where train-model keeps its lock and marker, beside the batches (shared/training_lock.py)
TRAINING_STATE_PREFIX = "training/"
QUALITY_PREFIX = "quality/"  # the batches' data-quality reports (shared/quality.py)
ROLES = ("", *dict.fromkeys([*MINIO_USERS, *MLFLOW_USERS]))


@dataclass(frozen=True)
class Settings:
    group_number: int
    batch_threshold: int
    data_api_url: str
    minio_endpoint: str
    minio_secure: bool
    batch_bucket: str
    batch_prefix: str
    artifact_bucket: str
    mlflow_tracking_uri: str
    experiment_name: str
    model_name: str
    http_timeout: float
    mysql_host: str
    mysql_port: int
    mysql_user: str
    mysql_database: str
    secrets_dir: Path
    # predict: the alias it serves (training moves it, the UI shows it), how often it looks, input limits
    model_alias: str = DEFAULT_MODEL_ALIAS
    model_poll_seconds: float = 10.0
    predict_max_rows: int = 10000
    predict_max_body_bytes: int = 8 * 1024 * 1024
    # fetch-batch: calls to the Data API per invocation (1 + retries), first back-off in seconds
    data_api_attempts: int = 3
    data_api_backoff: float = 0.5
    # train-model: seconds a training's lock lasts unless its holder renews it (it does, while it trains)
    training_lock_lease: float = 60.0
    # data quality: drift past these flags a batch (PSI for numeric features, JS distance for the rest)
    drift_psi_threshold: float = 0.2
    drift_js_threshold: float = 0.1
    # whose MinIO and MLflow credentials this process uses ("" = the stack's root/admin)
    service_role: str = ""

    def secret(self, name: str, env: Mapping[str, str] | None = None) -> str:
        return read_secret(name, env=env, secrets_dir=self.secrets_dir)

    @property
    def minio_access_key(self) -> str:
        return self._role_user(MINIO_USERS, "MinIO") or self.secret("minio-access-key")

    @property
    def minio_secret_key(self) -> str:
        role = self._role_user(MINIO_USERS, "MinIO")
        return self.secret(MINIO_USERS[role]) if role else self.secret("minio-secret-key")

    @property
    def mlflow_credentials(self) -> tuple[str, str]:
        """(user, password) for MLflow; without a role, the stack admin's (the gateway's basic auth)."""
        if self._role_user(MLFLOW_USERS, "MLflow"):
            return self.service_role, self.secret(MLFLOW_USERS[self.service_role])
        return self.secret("basic-auth-user"), self.secret("basic-auth-password")

    def _role_user(self, users: Mapping[str, str], service: str) -> str:
        if self.service_role and self.service_role not in users:
            raise ConfigError(f"SERVICE_ROLE={self.service_role!r} has no {service} user: it must not call {service}")
        return self.service_role


def _get(env: Mapping[str, str], name: str, default: str, parse: Callable[[str], T], hint: str) -> T:
    raw = env.get(name, default)
    try:
        return parse(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is invalid: {hint}") from None


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(raw)
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError(raw)
    return value


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(raw)


def _url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError(raw)
    return raw.rstrip("/")


def _role(raw: str) -> str:
    if raw not in ROLES:
        raise ValueError(raw)
    return raw


def _name(raw: str) -> str:
    if not raw or any(c.isspace() for c in raw):
        raise ValueError(raw)
    return raw


def env_number(env: Mapping[str, str], name: str, default: str, kind: type[int] | type[float], minimum: float):
    """A numeric setting of at least `minimum`; otherwise ConfigError naming it and the fix."""
    raw = env.get(name, default)
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ConfigError(f"{name}={raw!r} is invalid: use {'an integer' if kind is int else 'a number'} >= {minimum:g}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate all settings; a bad one raises ConfigError naming it and the fix."""
    env = os.environ if env is None else env
    minio_port = _get(env, "MINIO_PORT", "9000", _positive_int, "use a TCP port number")
    mlflow_port = _get(env, "MLFLOW_PORT", "5000", _positive_int, "use a TCP port number")
    data_api_port = _get(env, "DATA_API_PORT", "8090", _positive_int, "use a TCP port number")
    return Settings(
        group_number=_get(env, "GROUP_NUMBER", "6", _positive_int, "use the course group, an integer 1..10"),
        batch_threshold=_get(env, "BATCH_THRESHOLD", "10", _positive_int, "use a positive integer"),
        data_api_url=_get(env, "DATA_API_URL", f"http://127.0.0.1:{data_api_port}", _url, "use an http(s):// URL"),
        minio_endpoint=_get(env, "MINIO_ENDPOINT", f"127.0.0.1:{minio_port}", _name, "use host:port"),
        minio_secure=_get(env, "MINIO_SECURE", "false", _bool, "use true or false"),
        batch_bucket=_get(env, "BATCH_BUCKET", "covertype-batches", _name, "use an S3 bucket name"),
        batch_prefix=_get(env, "BATCH_PREFIX", "batches/", _name, "use an object key prefix such as batches/"),
        artifact_bucket=_get(env, "ARTIFACT_BUCKET", "mlflow-artifacts", _name, "use an S3 bucket name"),
        mlflow_tracking_uri=_get(
            env, "MLFLOW_TRACKING_URI", f"http://127.0.0.1:{mlflow_port}", _url, "use an http(s):// URL"
        ),
        experiment_name=_get(env, "EXPERIMENT_NAME", "covertype", _name, "use a name without spaces"),
        model_name=_get(env, "MODEL_NAME", "covertype-classifier", _name, "use a name without spaces"),
        http_timeout=_get(env, "HTTP_TIMEOUT", "10", _positive_float, "use a number of seconds > 0"),
        mysql_host=_get(env, "MYSQL_HOST", "127.0.0.1", _name, "use a host name or address"),
        mysql_port=_get(env, "MYSQL_PORT", "3306", _positive_int, "use a TCP port number"),
        mysql_user=_get(env, "MYSQL_USER", "mlflow", _name, "use a MySQL user name"),
        mysql_database=_get(env, "MYSQL_DATABASE", "mlflow", _name, "use a MySQL database name"),
        secrets_dir=Path(env.get("SECRETS_DIR", DEFAULT_SECRETS_DIR)),
        model_alias=_get(env, "MODEL_ALIAS", DEFAULT_MODEL_ALIAS, _name, "use a registry alias such as champion"),
        model_poll_seconds=_get(env, "MODEL_POLL_SECONDS", "10", _positive_float, "use a number of seconds > 0"),
        predict_max_rows=_get(env, "PREDICT_MAX_ROWS", "10000", _positive_int, "use a positive integer"),
        predict_max_body_bytes=_get(
            env, "PREDICT_MAX_BODY_BYTES", str(8 * 1024 * 1024), _positive_int, "use a number of bytes"
        ),
        data_api_attempts=_get(env, "DATA_API_ATTEMPTS", "3", _positive_int, "use a positive integer (1 = no retry)"),
        data_api_backoff=_get(env, "DATA_API_BACKOFF", "0.5", _positive_float, "use a number of seconds > 0"),
        training_lock_lease=_get(
            env, "TRAINING_LOCK_LEASE_SECONDS", "60", _positive_float, "use a number of seconds > 0"
        ),
        drift_psi_threshold=_get(env, "DRIFT_PSI_THRESHOLD", "0.2", _positive_float, "use a PSI > 0, such as 0.2"),
        drift_js_threshold=_get(
            env, "DRIFT_JS_THRESHOLD", "0.1", _positive_float, "use a Jensen-Shannon distance in (0, 1], such as 0.1"
        ),
        service_role=_get(env, "SERVICE_ROLE", "", _role, f"use one of {', '.join(ROLES[1:])}, or leave it unset"),
    )


def read_secret(name: str, env: Mapping[str, str] | None = None, secrets_dir: Path | str | None = None) -> str:
    """A credential from `<secrets_dir>/<name>`, else from the environment; never logged."""
    env = os.environ if env is None else env
    directory = Path(secrets_dir or env.get("SECRETS_DIR", DEFAULT_SECRETS_DIR))
    path = directory / name
    if path.is_file():
        value = path.read_text().strip()
        if value:
            return value
    env_name = name.upper().replace("-", "_")
    value = env.get(env_name, "").strip()
    if value:
        return value
    raise ConfigError(
        f"secret {name!r} is missing: put it in {path} or set {env_name} "
        "(locally, `make up` generates it under the state directory)"
    )
