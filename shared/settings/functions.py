"""The functions' settings (fetch-batch, train-model, predict; the UI and `make` targets too).

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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.errors import ConfigError
from shared.settings.core import BOOL, HOST, NAME, PATH, PORT, POSITIVE_INT, SECONDS, URL, one_of, read

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
ROLE = one_of(ROLES, f"use one of {', '.join(ROLES[1:])}, or leave it unset")


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


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate all settings; a bad one raises ConfigError naming it and the fix."""
    env = os.environ if env is None else env
    minio_port = read(env, "MINIO_PORT", "9000", PORT)
    mlflow_port = read(env, "MLFLOW_PORT", "5000", PORT)
    data_api_port = read(env, "DATA_API_PORT", "8090", PORT)
    return Settings(
        group_number=read(env, "GROUP_NUMBER", "6", POSITIVE_INT, "use the course group, an integer 1..10"),
        batch_threshold=read(env, "BATCH_THRESHOLD", "10", POSITIVE_INT),
        data_api_url=read(env, "DATA_API_URL", f"http://127.0.0.1:{data_api_port}", URL),
        minio_endpoint=read(env, "MINIO_ENDPOINT", f"127.0.0.1:{minio_port}", NAME, "use host:port"),
        minio_secure=read(env, "MINIO_SECURE", "false", BOOL),
        batch_bucket=read(env, "BATCH_BUCKET", "covertype-batches", NAME, "use an S3 bucket name"),
        batch_prefix=read(env, "BATCH_PREFIX", "batches/", NAME, "use an object key prefix such as batches/"),
        artifact_bucket=read(env, "ARTIFACT_BUCKET", "mlflow-artifacts", NAME, "use an S3 bucket name"),
        mlflow_tracking_uri=read(env, "MLFLOW_TRACKING_URI", f"http://127.0.0.1:{mlflow_port}", URL),
        experiment_name=read(env, "EXPERIMENT_NAME", "covertype", NAME),
        model_name=read(env, "MODEL_NAME", "covertype-classifier", NAME),
        http_timeout=read(env, "HTTP_TIMEOUT", "10", SECONDS),
        mysql_host=read(env, "MYSQL_HOST", "127.0.0.1", HOST),
        mysql_port=read(env, "MYSQL_PORT", "3306", PORT),
        mysql_user=read(env, "MYSQL_USER", "mlflow", NAME, "use a MySQL user name"),
        mysql_database=read(env, "MYSQL_DATABASE", "mlflow", NAME, "use a MySQL database name"),
        secrets_dir=read(env, "SECRETS_DIR", DEFAULT_SECRETS_DIR, PATH),
        model_alias=read(env, "MODEL_ALIAS", DEFAULT_MODEL_ALIAS, NAME, "use a registry alias such as champion"),
        model_poll_seconds=read(env, "MODEL_POLL_SECONDS", "10", SECONDS),
        predict_max_rows=read(env, "PREDICT_MAX_ROWS", "10000", POSITIVE_INT),
        predict_max_body_bytes=read(
            env, "PREDICT_MAX_BODY_BYTES", str(8 * 1024 * 1024), POSITIVE_INT, "use a number of bytes"
        ),
        data_api_attempts=read(env, "DATA_API_ATTEMPTS", "3", POSITIVE_INT, "use a positive integer (1 = no retry)"),
        data_api_backoff=read(env, "DATA_API_BACKOFF", "0.5", SECONDS),
        training_lock_lease=read(env, "TRAINING_LOCK_LEASE_SECONDS", "60", SECONDS),
        drift_psi_threshold=read(env, "DRIFT_PSI_THRESHOLD", "0.2", SECONDS, "use a PSI > 0, such as 0.2"),
        drift_js_threshold=read(
            env, "DRIFT_JS_THRESHOLD", "0.1", SECONDS, "use a Jensen-Shannon distance in (0, 1], such as 0.1"
        ),
        service_role=read(env, "SERVICE_ROLE", "", ROLE),
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
