"""Start one service of the local stack in the foreground: `python -m infra.launch NAME`.

supervisord runs this for every program; it reads the stack's configuration and the
secret files, prepares what the service needs on first start, then replaces itself
with the service's own binary (so supervisord signals the real process). Keeping the
commands here keeps credentials out of supervisord's configuration and `ps`.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from shared.errors import ConfigError
from shared.settings.stack import StackConfig, load_stack_config

Command = tuple[list[str], dict[str, str]]


def _binary(config: StackConfig, name: str, *fallbacks: str) -> str:
    for candidate in (str(config.bin_dir / name), *fallbacks):
        found = shutil.which(candidate)
        if found:
            return found
    raise ConfigError(f"{name} is not installed: run `make setup`")


def mysql(config: StackConfig) -> Command:
    mariadbd = _binary(config, "mariadbd", "/usr/sbin/mariadbd", "mysqld", "/usr/sbin/mysqld")
    datadir = config.state_dir / "mysql" / "data"
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    if not (datadir / "mysql").is_dir():
        datadir.mkdir(parents=True, exist_ok=True)
        install_db = _binary(config, "mariadb-install-db", "mysql_install_db")
        subprocess.run(
            [install_db, "--no-defaults", f"--datadir={datadir}", "--auth-root-authentication-method=socket",
             "--skip-test-db", *as_root],
            check=True, stdout=sys.stderr,
        )
    argv = [
        mariadbd, "--no-defaults", f"--datadir={datadir}", f"--socket={config.mysql_socket}",
        f"--port={config.ports['mysql']}", f"--bind-address={config.host}",
        f"--pid-file={config.state_dir / 'mysql' / 'mysqld.pid'}", "--skip-name-resolve",
        "--innodb-buffer-pool-size=128M", *as_root,
    ]
    return argv, {}


def minio(config: StackConfig) -> Command:
    datadir = config.state_dir / "minio" / "data"
    datadir.mkdir(parents=True, exist_ok=True)
    argv = [
        _binary(config, "minio"), "server", str(datadir),
        "--address", f"{config.host}:{config.ports['minio']}",
        "--console-address", f"{config.host}:{config.ports['minio-console']}",
    ]
    env = {
        "MINIO_ROOT_USER": config.secret("minio-access-key"),
        "MINIO_ROOT_PASSWORD": config.secret("minio-secret-key"),
        "MINIO_UPDATE": "off",
        "MINIO_CALLHOME_ENABLE": "off",
        **webhook_target_env(config),
    }
    return argv, env


# MinIO's webhook notification target for new batches (ARN arn:minio:sqs::TRAIN:webhook)
MINIO_WEBHOOK_ID = "TRAIN"


def webhook_target_env(config: StackConfig) -> dict[str, str]:
    """Batch events go to train-model through the gateway; MinIO sends the token as
    `Authorization: Bearer <token>`. Undelivered events wait in the queue directory (MinIO
    starts and keeps them while the gateway is down, and replays them once it answers)."""
    queue_dir = config.state_dir / "minio" / "events"
    queue_dir.mkdir(parents=True, exist_ok=True)
    suffix = MINIO_WEBHOOK_ID
    return {
        f"MINIO_NOTIFY_WEBHOOK_ENABLE_{suffix}": "on",
        f"MINIO_NOTIFY_WEBHOOK_ENDPOINT_{suffix}": f"{config.url('gateway')}/async-function/train-model",
        f"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_{suffix}": config.secret("minio-webhook-token"),
        f"MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_{suffix}": str(queue_dir),
        f"MINIO_NOTIFY_WEBHOOK_QUEUE_LIMIT_{suffix}": "10000",
    }


def mlflow(config: StackConfig) -> Command:
    """The tracking server behind MLflow's basic-auth app, serving artifacts itself (as MinIO user `mlflow`)."""
    from shared.settings import MINIO_USERS, load_settings

    settings = load_settings({**os.environ, **config.service_env()})
    password = config.secret("mysql-password")
    argv = [
        _binary(config, str(config.python.parent / "mlflow")), "server", "--app-name", "basic-auth",
        "--host", config.host, "--port", str(config.ports["mlflow"]),
        "--serve-artifacts", "--artifacts-destination", f"s3://{settings.artifact_bucket}",
        "--workers", "2",
        # uvicorn kills a worker that does not answer its ping within 5 s: on a busy machine the
        # basic-auth app's workers took longer to start and were killed over and over
        "--uvicorn-opts", "--timeout-worker-healthcheck 60",
    ]
    env = {
        "MLFLOW_BACKEND_STORE_URI": (
            f"mysql+pymysql://{settings.mysql_user}:{password}@{config.host}:{config.ports['mysql']}"
            f"/{settings.mysql_database}"
        ),
        "MLFLOW_AUTH_CONFIG_PATH": str(write_auth_config(config)),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": config.secret("mlflow-flask-secret-key"),
        "MLFLOW_S3_ENDPOINT_URL": f"http://{settings.minio_endpoint}",
        "AWS_ACCESS_KEY_ID": "mlflow",
        "AWS_SECRET_ACCESS_KEY": config.secret(MINIO_USERS["mlflow"]),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return argv, env


def prometheus(config: StackConfig) -> Command:
    """Prometheus scraping the gateway's /metrics, its configuration and data in the state directory."""
    directory = config.state_dir / "prometheus"
    (directory / "data").mkdir(parents=True, exist_ok=True)
    conf = directory / "prometheus.yml"
    conf.write_text(prometheus_config(config, config.prometheus_scrape_interval))
    argv = [
        _binary(config, "prometheus", "/usr/bin/prometheus"), f"--config.file={conf}",
        f"--storage.tsdb.path={directory / 'data'}", "--storage.tsdb.retention.time=15d",
        f"--web.listen-address={config.host}:{config.ports['prometheus']}",
    ]
    return argv, {}


def prometheus_config(config: StackConfig, interval: str) -> str:
    import yaml

    gateway = f"{config.host}:{config.ports['gateway']}"
    return yaml.safe_dump({
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [{"job_name": "gateway", "metrics_path": "/metrics", "static_configs": [{"targets": [gateway]}]}],
    }, sort_keys=False)


def write_auth_config(config: StackConfig) -> Path:
    """MLflow's auth settings (they hold the admin's password: owner-only). Every authenticated user
    may read; the admin is the stack's admin (the gateway's basic auth); the role users come at
    bootstrap. The user store is SQLite beside it: MLflow's own migration cannot create its tables
    in MySQL/MariaDB (two foreign keys both named fk_user_id, mlflow/mlflow#9642)."""
    folder = config.state_dir / "mlflow"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    parser = configparser.ConfigParser()
    values = {
        "default_permission": "READ",
        "database_uri": f"sqlite:///{folder / 'users.db'}",
        "admin_username": config.secret("basic-auth-user"),
        "admin_password": config.secret("basic-auth-password"),
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
        # checking a password costs a slow hash on every request (the first took 26 s on a busy
        # 2-core machine); a checked one is remembered per worker for a minute
        "auth_cache_ttl_seconds": "60",
    }
    parser["mlflow"] = {key: value.replace("%", "%%") for key, value in values.items()}  # no interpolation
    path = folder / "basic_auth.ini"
    path.touch(mode=0o600)
    path.chmod(0o600)
    with path.open("w") as out:
        parser.write(out)
    return path
def nats(config: StackConfig) -> Command:
    """nats-server with JetStream, its store encrypted at rest and readable by its owner only.

    The configuration names the password and the store key as environment variables, so
    neither is written in it nor shown by `ps`."""
    from infra.gateway.natsq import USER

    store = config.state_dir / "nats"
    store.mkdir(mode=0o700, parents=True, exist_ok=True)
    store.chmod(0o700)
    os.umask(0o077)  # inherited by nats-server: every file it writes is 600, every folder 700
    conf = store / "nats-server.conf"
    listen = f"{config.host}:{config.ports['nats']}"
    conf.write_text("\n".join([
        f"listen: {json.dumps(listen)}",
        f"max_payload: {config.nats_max_payload}",
        f"authorization {{ user: {USER}, password: $NATS_PASSWORD }}",
        "jetstream {",
        f"  store_dir: {json.dumps(str(store))}",
        f"  sync_interval: {config.nats_sync_interval}",
        "  cipher: chachapoly",
        "  key: $NATS_STORE_KEY",
        "}",
        "",
    ]))
    # nats-server parses a `$VAR` as a config value: unquoted, "-sW..." or "7s..." fail as numbers
    env = {"NATS_PASSWORD": json.dumps(config.secret("nats-password")),
           "NATS_STORE_KEY": json.dumps(config.secret("nats-store-key"))}
    return [_binary(config, "nats-server"), "-c", str(conf)], env


# glibc gives freed memory back above 128 KB at the heap's top and asks for it again on the next
# call: a 1,000-row predict (300 KB in, 140 KB out) cost the gateway five brk calls and fresh
# pages, 1.5 ms of CPU. Keeping up to 64 MB and growing 8 MB at a time: 0.9 ms, and the call
# ~0.7 ms faster through the gateway (medians of interleaved runs).
GATEWAY_MALLOC = {"MALLOC_TRIM_THRESHOLD_": str(64 << 20), "MALLOC_TOP_PAD_": str(8 << 20)}


def gateway(config: StackConfig) -> Command:
    return [str(config.python), "-m", "infra.gateway"], GATEWAY_MALLOC


def ui(config: StackConfig) -> Command:
    return [str(config.python), "-m", "ui.app"], {"SERVICE_ROLE": "web-ui"}  # its own MinIO and MLflow users


def cron(config: StackConfig) -> Command:
    """OpenFaaS's cron-connector: it lists the gateway's functions every `rebuild_interval`
    and calls each `topic: cron-function` one on its `schedule` annotation, with basic auth
    from the stack's secret files (basic-auth-user, basic-auth-password)."""
    env = {
        "gateway_url": config.url("gateway"),
        "basic_auth": "true",
        "secret_mount_path": str(config.secrets_dir),
        "rebuild_interval": config.cron_rebuild_interval,
    }
    return [_binary(config, "cron-connector")], env


def data_api(config: StackConfig) -> Command:
    return [str(config.python), "-m", "infra.data_api"], {}


SERVICES: dict[str, Callable[[StackConfig], Command]] = {
    "mysql": mysql,
    "minio": minio,
    "mlflow": mlflow,
    "nats": nats,
    "gateway": gateway,
    "prometheus": prometheus,
    "ui": ui,
    "data-api": data_api,
    "cron": cron,
}


def main(argv: list[str]) -> None:
    config = load_stack_config()
    if len(argv) == 3 and argv[0] == "function":  # one replica of a function (see infra/gateway/runtime.py)
        from infra.gateway.runtime import function_command

        command, extra_env = function_command(config, argv[1], int(argv[2]))
        os.execvpe(command[0], command, {**os.environ, **config.service_env(), **extra_env})
    if len(argv) != 1 or argv[0] not in SERVICES:
        sys.exit(f"usage: python -m infra.launch {{{','.join(SERVICES)}}} | function NAME REPLICA")
    command, extra_env = SERVICES[argv[0]](config)
    os.execvpe(command[0], command, {**os.environ, **config.service_env(), **extra_env})


if __name__ == "__main__":
    main(sys.argv[1:])
