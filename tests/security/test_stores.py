"""The stores behind the gateway, probed as an attacker on the same host would: MLflow asks
for credentials and keeps each role to its permissions, every MinIO user is refused what
its role may not do, and predict refuses a model file that is not the one train-model logged.

Real MariaDB, MinIO and MLflow (the session stack), the users `make up` creates.
"""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
import requests

from infra.gateway.stackfile import load_stack_file
from shared import storage
from shared.errors import ConfigError
from shared.model_file import MODEL_FILE
from shared.registry import Registry, VersionInfo
from shared.settings import MLFLOW_USERS
from shared.settings.stack import ROOT
from tests.predict_support import predict_process, register_model, sample_records

pytestmark = pytest.mark.services

ALIAS_ROUTE = "/api/2.0/mlflow/registered-models/alias"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def as_role(settings, role: str):
    return dataclasses.replace(settings, service_role=role)


def role_auth(stack, role: str) -> tuple[str, str]:
    return role, stack.config.secret(MLFLOW_USERS[role])


# --- MLflow ----------------------------------------------------------------------------------
@pytest.mark.parametrize("method, route", [
    ("GET", "/api/2.0/mlflow/experiments/search?max_results=1"),
    ("GET", f"{ALIAS_ROUTE}?name=covertype-classifier&alias=champion"),
    ("POST", ALIAS_ROUTE),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts"),
    ("GET", "/"),
])
def test_mlflow_without_credentials_answers_401(settings, method, route):
    url = f"{settings.mlflow_tracking_uri}{route}"
    assert requests.request(method, url, timeout=10).status_code == 401
    assert requests.request(method, url, auth=("admin", "not-the-password"), timeout=10).status_code == 401
    assert requests.request(method, url, auth=("predict", "not-the-password"), timeout=10).status_code == 401


def test_fetch_batch_predict_and_the_ui_read_but_cannot_move_an_alias(stack, settings):
    name = unique("security-alias")
    version, _ = register_model(settings.mlflow_tracking_uri, name)
    alias = {"name": name, "alias": "champion", "version": version}
    for role in ("fetch-batch", "predict", "web-ui"):
        auth = role_auth(stack, role)
        read = requests.get(f"{settings.mlflow_tracking_uri}{ALIAS_ROUTE}", params={"name": name, "alias": "champion"},
                            auth=auth, timeout=10)
        assert read.status_code == 200 and read.json()["model_version"]["version"] == version
        moved = requests.post(f"{settings.mlflow_tracking_uri}{ALIAS_ROUTE}", json=alias, auth=auth, timeout=10)
        assert moved.status_code == 403, (role, moved.text)
        created = requests.post(f"{settings.mlflow_tracking_uri}/api/2.0/mlflow/model-versions/create",
                                json={"name": name, "source": "mlflow-artifacts:/0/x"}, auth=auth, timeout=10)
        assert created.status_code == 403, (role, created.text)


def test_train_model_moves_aliases_of_its_model_only(stack, settings):
    auth = role_auth(stack, "train-model")
    ours = register_model(settings.mlflow_tracking_uri, settings.model_name, alias=None)[0]
    other = unique("security-other")
    theirs = register_model(settings.mlflow_tracking_uri, other, alias=None)[0]
    moved = requests.post(f"{settings.mlflow_tracking_uri}{ALIAS_ROUTE}", auth=auth, timeout=10,
                          json={"name": settings.model_name, "alias": "security-check", "version": ours})
    assert moved.status_code == 200, moved.text
    refused = requests.post(f"{settings.mlflow_tracking_uri}{ALIAS_ROUTE}", auth=auth, timeout=10,
                            json={"name": other, "alias": "champion", "version": theirs})
    assert refused.status_code == 403


# --- MinIO -----------------------------------------------------------------------------------
def put(settings, bucket: str, key: str) -> None:
    storage.write(settings, bucket, key, b"{}")


def get(settings, bucket: str, key: str) -> None:
    storage.read(settings, bucket, key)


def delete(settings, bucket: str, key: str) -> None:
    storage.remove(settings, bucket, key)


BATCH = "batches/group=99/batch=01.json"
LOCK = "training/group=99/lock.json"
REPORT = "quality/group=99/batch=01.json"
ARTIFACT = "security/probe.json"
# role, operation, bucket ("batches" or "artifacts"), key, allowed
MINIO_CASES = [
    ("fetch-batch", put, "batches", BATCH, True),
    ("fetch-batch", get, "batches", BATCH, True),
    ("fetch-batch", delete, "batches", BATCH, False),
    ("fetch-batch", put, "batches", LOCK, False),
    ("fetch-batch", put, "batches", REPORT, True),
    ("fetch-batch", delete, "batches", REPORT, False),
    ("fetch-batch", put, "artifacts", ARTIFACT, False),
    ("fetch-batch", get, "artifacts", ARTIFACT, False),
    ("train-model", put, "batches", BATCH, False),
    ("train-model", get, "batches", BATCH, True),
    ("train-model", put, "batches", LOCK, True),
    ("train-model", delete, "batches", LOCK, True),
    ("train-model", get, "batches", REPORT, True),
    ("train-model", put, "batches", REPORT, True),
    ("train-model", put, "artifacts", ARTIFACT, False),
    ("web-ui", get, "batches", BATCH, True),
    ("web-ui", put, "batches", BATCH, False),
    ("web-ui", get, "batches", REPORT, True),
    ("web-ui", put, "batches", REPORT, False),
    ("web-ui", get, "artifacts", ARTIFACT, False),
    ("mlflow", put, "artifacts", ARTIFACT, True),
    ("mlflow", put, "batches", BATCH, False),
    ("mlflow", get, "batches", BATCH, False),
]


@pytest.fixture
def probe_objects(settings):
    """The objects the cases read, written as root."""
    put(settings, settings.batch_bucket, BATCH)
    put(settings, settings.artifact_bucket, ARTIFACT)
    put(settings, settings.batch_bucket, LOCK)
    put(settings, settings.batch_bucket, REPORT)


@pytest.mark.parametrize("role, operation, bucket, key, allowed", MINIO_CASES,
                         ids=[f"{c[0]}-{c[1].__name__}-{c[2]}-{c[3].split('/')[0]}" for c in MINIO_CASES])
def test_minio_users_may_do_only_what_their_role_needs(settings, probe_objects, role, operation, bucket, key, allowed):
    bucket_name = settings.batch_bucket if bucket == "batches" else settings.artifact_bucket
    if allowed:
        operation(as_role(settings, role), bucket_name, key)
        return
    with pytest.raises(storage.Refused) as refused:
        operation(as_role(settings, role), bucket_name, key)
    assert refused.value.code == "AccessDenied"


def test_predict_has_no_minio_user_at_all(settings):
    predict = load_stack_file(ROOT / "stack.yml", {}).functions["predict"]
    assert predict.secrets == ("mlflow-predict-password",)
    with pytest.raises(ConfigError, match="has no MinIO user"):
        storage.client(as_role(settings, "predict"))


# --- the model file --------------------------------------------------------------------------
def predict_secrets(stack, tmp_path):
    """What predict gets on OpenFaaS: its MLflow password, nothing else."""
    folder = tmp_path / "predict-secrets"
    folder.mkdir()
    (folder / "mlflow-predict-password").write_text(stack.config.secret("mlflow-predict-password"))
    return folder


def model_object_key(settings, name: str, version: str) -> str:
    uri = Registry(settings).artifact_uri(VersionInfo(name, version, "", "", {}))
    return f"{uri.removeprefix('mlflow-artifacts:').strip('/')}/{MODEL_FILE}"


def test_a_tampered_model_file_is_refused_and_the_old_champion_keeps_serving(stack, settings, stack_env, tmp_path):
    from mlflow import MlflowClient

    name = unique("security-tamper")
    first, _ = register_model(settings.mlflow_tracking_uri, name, seed=1)
    second, _ = register_model(settings.mlflow_tracking_uri, name, family="logistic_regression", seed=2, alias=None)
    env = {**stack_env, "MODEL_NAME": name, "MODEL_POLL_SECONDS": "1", "SERVICE_ROLE": "predict",
           "SECRETS_DIR": str(predict_secrets(stack, tmp_path))}
    record = sample_records(1, seed=3)[0]
    with predict_process(env, tmp_path / "predict.log") as url:
        assert requests.post(url, json=record, timeout=30).json()["model"]["version"] == first
        # someone with write access to the artifact bucket swaps the second version's file
        key = model_object_key(settings, name, second)
        genuine = storage.read(settings, settings.artifact_bucket, key).body
        tampered = genuine[:-16] + bytes(16)
        storage.write(settings, settings.artifact_bucket, key, tampered, content_type="application/octet-stream")
        MlflowClient(settings.mlflow_tracking_uri).set_registered_model_alias(name, "champion", second)
        status = {}
        for _ in range(40):
            status = requests.get(url, timeout=10).json()
            if status.get("status") == "degraded":
                break
            time.sleep(0.5)
        answer = requests.post(url, json=record, timeout=30)
    assert status["status"] == "degraded" and status["version"] == first, status
    assert "does not match the checksum" in status["error"]
    assert answer.status_code == 200 and answer.json()["model"]["version"] == first
