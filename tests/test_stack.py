"""The local stack for real: MLflow writes its metadata to MySQL and its artifacts to MinIO,
a restart keeps both, and bad configuration fails with one clear line."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import uuid

import mlflow
import pymysql
import pytest

from infra.supervisor import Stack
from shared import storage
from shared.errors import ConfigError, ServiceUnavailable
from shared.health import check_minio, check_mlflow, check_mysql
from shared.settings import load_settings
from shared.settings.stack import ROOT, load_stack_config
from tests.conftest import running_stack

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory):
    """A stack of this module's own, since these tests stop and restart services."""
    with running_stack(tmp_path_factory.mktemp("own-stack")) as started:
        yield started


def log_run_with_artifact(settings, tmp_path) -> str:
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_experiment(f"wiring-{uuid.uuid4().hex[:8]}")
    note = tmp_path / "note.txt"
    note.write_text("artifact body")
    with mlflow.start_run() as run:
        mlflow.log_metric("accuracy", 0.875)
        mlflow.log_artifact(str(note))
    return run.info.run_id


def mysql_run_row(stack: Stack, settings, run_id: str) -> tuple:
    conn = pymysql.connect(
        host=settings.mysql_host, port=settings.mysql_port, user=settings.mysql_user,
        password=stack.config.secret("mysql-password"), database=settings.mysql_database,
    )
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT r.status, m.value FROM runs r JOIN latest_metrics m ON m.run_uuid = r.run_uuid "
                "WHERE r.run_uuid = %s AND m.`key` = 'accuracy'",
                (run_id,),
            )
            return cur.fetchone()
    finally:
        conn.close()


def minio_artifact(settings, run_id: str) -> bytes:
    keys = storage.keys(settings, settings.artifact_bucket, recursive=True)
    matching = [key for key in keys if run_id in key and key.endswith("note.txt")]
    assert matching, f"no artifact of run {run_id} in bucket {settings.artifact_bucket}: {keys}"
    return storage.read(settings, settings.artifact_bucket, matching[0]).body


def test_run_lands_in_mysql_and_minio_and_survives_restart(own_stack, tmp_path):
    settings = own_stack.settings()
    run_id = log_run_with_artifact(settings, tmp_path)

    assert mysql_run_row(own_stack, settings, run_id) == ("FINISHED", 0.875)
    assert minio_artifact(settings, run_id) == b"artifact body"

    own_stack.down()
    own_stack.up(["mysql", "minio", "mlflow"], progress=lambda line: None)

    assert mysql_run_row(own_stack, settings, run_id) == ("FINISHED", 0.875)
    assert minio_artifact(settings, run_id) == b"artifact body"
    assert mlflow.MlflowClient(settings.mlflow_tracking_uri).get_run(run_id).data.metrics == {"accuracy": 0.875}


def test_up_twice_is_idempotent(own_stack):
    lines: list[str] = []
    own_stack.up(["mysql", "minio", "mlflow"], progress=lines.append)
    assert [line.split()[:2] for line in lines] == [["mysql", "up"], ["minio", "up"], ["mlflow", "up"]]
    assert all(own_stack.states()[name] == "RUNNING" for name in ("mysql", "minio", "mlflow"))


def test_wrong_minio_credentials_give_one_clear_line(own_stack, tmp_path):
    (tmp_path / "minio-access-key").write_text(own_stack.config.secret("minio-access-key"))
    (tmp_path / "minio-secret-key").write_text("not-the-password")
    settings = dataclasses.replace(own_stack.settings(), secrets_dir=tmp_path)
    with pytest.raises(ConfigError) as caught:
        check_minio(settings)
    assert str(caught.value) == (
        f"MinIO at {settings.minio_endpoint} rejected the credentials (SignatureDoesNotMatch): "
        "check the MinIO secrets (minio-access-key and minio-secret-key, or the role's own)"
    )


def test_wrong_mysql_password_gives_one_clear_line(own_stack, tmp_path):
    (tmp_path / "mysql-password").write_text("not-the-password")
    settings = dataclasses.replace(own_stack.settings(), secrets_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"^MySQL at .* refused user 'mlflow' .*check the mysql-password secret"):
        check_mysql(settings)


def test_mysql_down_gives_one_clear_line(own_stack):
    settings = own_stack.settings()
    own_stack.stop("mysql")
    try:
        with pytest.raises(ServiceUnavailable) as caught:
            check_mysql(settings)
        assert str(caught.value) == (
            f"MySQL at 127.0.0.1:{settings.mysql_port} is not reachable (error 2003): "
            "start it with `make up` or set MYSQL_HOST / MYSQL_PORT"
        )
    finally:
        own_stack.start("mysql")
    check_mysql(settings)


def test_mlflow_down_gives_one_clear_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = load_settings({"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}", "HTTP_TIMEOUT": "2"})
    with pytest.raises(ServiceUnavailable, match=r"^MLflow at http://127.0.0.1:\d+ is not reachable \(ConnectionError\)"):
        check_mlflow(settings)


def test_port_taken_stops_make_up_with_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "STATE_DIR": str(tmp_path / "state"), "MINIO_PORT": str(port)}
        for var in ("MYSQL_PORT", "MINIO_CONSOLE_PORT", "MLFLOW_PORT"):
            with socket.socket() as free:
                free.bind(("127.0.0.1", 0))
                env[var] = str(free.getsockname()[1])
        result = subprocess.run(
            [sys.executable, "-m", "infra.stack", "up", "minio"], cwd=ROOT, env=env, capture_output=True,
            text=True, timeout=120,
        )
        subprocess.run([sys.executable, "-m", "infra.stack", "down"], cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == (
        f"error: port {port} for minio (MINIO_PORT) is already in use on 127.0.0.1: "
        "stop what holds it or set MINIO_PORT to a free port\n"
    )


def test_a_service_that_gives_up_stops_the_wait_with_its_log_tail(tmp_path, monkeypatch):
    """supervisord's FATAL ends the wait at once (not at the timeout), and the error shows why."""
    stack = Stack(load_stack_config({"STATE_DIR": str(tmp_path / "state")}))
    stack.config.logs_dir.mkdir(parents=True)
    lines = [f"line {n}" for n in range(20)] + ["nats-server: Expected a digit but got 's'"]
    (stack.config.logs_dir / "nats.log").write_text("\n".join(lines) + "\n")

    def refused(name):
        raise ServiceUnavailable("NATS at nats://127.0.0.1:1 is not answering (NoServersError)")

    monkeypatch.setattr(stack, "probe", refused)
    monkeypatch.setattr(stack, "state_of", lambda name: "FATAL")
    with pytest.raises(ServiceUnavailable) as raised:
        stack.wait_healthy("nats", timeout=600)
    message = raised.value.message
    assert message.startswith("nats did not become healthy (FATAL): NATS at nats://127.0.0.1:1 is not answering")
    assert message.splitlines()[1:] == [f"    {line}" for line in lines[-8:]]  # the last 8 lines, under the error
