"""Is each backing service reachable, and does it accept our credentials?

Each check returns None when healthy and raises ConfigError (credentials refused) or
ServiceUnavailable (not reachable) with one line that names the service and the fix.
"""

from __future__ import annotations

import pymysql

from shared import storage
from shared.errors import ConfigError, ServiceUnavailable, UpstreamError
from shared.registry import Refused, Registry
from shared.settings import Settings


def check_minio(settings: Settings) -> None:
    try:
        storage.bucket_exists(settings, settings.batch_bucket)  # the one bucket every MinIO user may see
    except storage.Refused as exc:
        raise ConfigError(
            f"MinIO at {settings.minio_endpoint} rejected the credentials ({exc.code}): "
            "check the MinIO secrets (minio-access-key and minio-secret-key, or the role's own)"
        ) from None


def check_mysql(settings: Settings) -> None:
    where = f"{settings.mysql_host}:{settings.mysql_port}"
    try:
        pymysql.connect(
            host=settings.mysql_host, port=settings.mysql_port, user=settings.mysql_user,
            password=settings.secret("mysql-password"), database=settings.mysql_database,
            connect_timeout=min(settings.http_timeout, 5),
        ).close()
    except pymysql.err.OperationalError as exc:
        code = exc.args[0] if exc.args else 0
        if code in (1044, 1045, 1049):
            raise ConfigError(
                f"MySQL at {where} refused user {settings.mysql_user!r} on database "
                f"{settings.mysql_database!r} ({exc.args[1] if len(exc.args) > 1 else code}): "
                "check the mysql-password secret and MYSQL_USER / MYSQL_DATABASE"
            ) from None
        raise ServiceUnavailable(
            f"MySQL at {where} is not reachable (error {code}): start it with `make up` or set MYSQL_HOST / MYSQL_PORT"
        ) from None


def check_mlflow(settings: Settings) -> None:
    registry = Registry(settings)
    try:
        registry.health()
        registry.call("GET", "/api/2.0/mlflow/experiments/search", params={"max_results": 1})
    except Refused as exc:
        raise ConfigError(
            f"MLflow at {registry.base} rejected the credentials ({exc.answered}): check the "
            "MLflow secrets (basic-auth-user and basic-auth-password, or the role's own)"
        ) from None
    except ServiceUnavailable as exc:
        raise ServiceUnavailable(f"{exc.message}: start it with `make up` or set MLFLOW_TRACKING_URI") from None
    except UpstreamError as exc:  # a 4xx from /health: something else answers at that address
        raise ServiceUnavailable(f"{exc.message}: is MLFLOW_TRACKING_URI MLflow's address?") from None


CHECKS = {"mysql": check_mysql, "minio": check_minio, "mlflow": check_mlflow}
