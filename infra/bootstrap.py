"""Each service's set-up once it answers (idempotent): the database and its user, the buckets, the batch
bucket's notification to train-model and every role's MinIO user (infra/minio_access.py), MLflow's users."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import pymysql

from infra import minio_access
from infra.launch import MINIO_WEBHOOK_ID
from shared import storage
from shared.health import CHECKS
from shared.settings import MLFLOW_USERS, Settings
from shared.settings.stack import StackConfig


class Stack(Protocol):
    """What these steps use of the stack that runs them (infra/supervisor.py's Stack)."""

    config: StackConfig

    def settings(self) -> Settings: ...

    def root_mysql(self) -> pymysql.connections.Connection: ...


def bootstrap_mysql(stack: Stack) -> None:
    settings = stack.settings()
    password = stack.config.secret("mysql-password")
    conn = stack.root_mysql()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{settings.mysql_database}`")
            for host in ("localhost", "127.0.0.1", "%"):
                cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (settings.mysql_user, host, password))
                cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (settings.mysql_user, host, password))
                cur.execute(f"GRANT ALL ON `{settings.mysql_database}`.* TO %s@%s", (settings.mysql_user, host))
        conn.commit()
    finally:
        conn.close()
    CHECKS["mysql"](settings)


def bootstrap_minio(stack: Stack) -> None:
    settings = stack.settings()
    for bucket in (settings.batch_bucket, settings.artifact_bucket):
        storage.ensure_bucket(settings, bucket)
    # new batch objects notify train-model
    storage.notify_on_create(settings, settings.batch_bucket, settings.batch_prefix,
                             f"arn:minio:sqs::{MINIO_WEBHOOK_ID}:webhook", config_id="train-model")
    minio_access.apply(settings, stack.config.secret)


def bootstrap_mlflow(stack: Stack) -> None:
    """MLflow's users per role, with the stack admin's credentials (idempotent). Every user reads
    (`default_permission`); train-model also writes runs in the experiment and versions and aliases
    of the model; the UI moves the alias only with the admin credentials its user types in."""
    from shared import tracking  # mlflow takes seconds to import: only `up` needs it

    tracking.set_up_users(stack.settings(), {role: stack.config.secret(secret) for role, secret in MLFLOW_USERS.items()})


BOOTSTRAP: dict[str, Callable[[Stack], None]] = {
    "mysql": bootstrap_mysql, "minio": bootstrap_minio, "mlflow": bootstrap_mlflow,
}
