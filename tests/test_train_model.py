"""train-model against real MinIO, MySQL and MLflow: the handler called as the runtime calls it."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import mlflow
import numpy as np
import pandas as pd
import pymysql
import pytest
from mlflow import MlflowClient

from infra.data_api.synthetic import generate
from shared import storage, tracking, training
from shared.model_file import CHECKSUM_TAG
from shared.schema import FEATURES
from shared.training_lock import TrainingState
from tests.train_support import (
    admin_headers,
    call,
    event,
    isolate,
    load_handler,
    minio_event_body,
    store_batches,
)

pytestmark = pytest.mark.services


@pytest.fixture
def handler():
    return load_handler()


@pytest.fixture
def client(settings) -> MlflowClient:
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    return MlflowClient(settings.mlflow_tracking_uri)


def runs_of(client: MlflowClient, settings, training_id: str | None = None):
    experiment = client.get_experiment_by_name(settings.experiment_name)
    if experiment is None:
        return []
    where = f"tags.training_id = '{training_id}'" if training_id else ""
    return client.search_runs([experiment.experiment_id], filter_string=where, max_results=100)


def champion_version(client: MlflowClient, name: str) -> str:
    return client.get_model_version_by_alias(name, "champion").version


def test_tenth_batch_trains_once_and_replays_do_not(stack_env, monkeypatch, handler, client):
    settings = isolate(monkeypatch, "once")
    for number in range(1, 10):
        store_batches(settings, [number])
        status, body = call(handler, settings, minio_event_body(settings, number))
        assert status == 200 and body["status"] == "waiting", body
    assert body["message"] == f"waiting 9/10 batches of group {settings.group_number}"
    assert runs_of(client, settings) == []

    store_batches(settings, [10])
    tenth = minio_event_body(settings, 10)
    with ThreadPoolExecutor(max_workers=3) as pool:  # MinIO may deliver the same event more than once
        answers = list(pool.map(lambda _: call(handler, settings, tenth), range(3)))
    statuses = sorted(body.get("status", str(body)) for _, body in answers)
    assert statuses.count("trained") == 1, answers
    assert set(statuses) <= {"trained", "in_progress", "already_trained"}
    trained = next(body for _, body in answers if body["status"] == "trained")

    for number in (10, 3, 10):  # replayed events, after the fact
        status, body = call(handler, settings, minio_event_body(settings, number))
        assert (status, body["status"]) == (200, "already_trained")
        assert body["training_id"] == trained["training_id"]

    runs = runs_of(client, settings)
    assert len(runs) == 4  # the parent and one per family, all of this one training
    assert {run.data.tags["training_id"] for run in runs} == {trained["training_id"]}
    children = [run for run in runs if "family" in run.data.tags]
    assert sorted(run.data.tags["family"] for run in children) == sorted(training.FAMILIES)
    for run in children:
        assert run.info.status == "FINISHED"
        assert run.data.params["batches"] == ",".join(str(n) for n in range(1, 11))
        assert int(run.data.params["rows_loaded"]) == 10 * 300
        assert {"accuracy", "f1_weighted", "precision_weighted", "recall_weighted", "fit_seconds"} <= set(run.data.metrics)
        assert any(name.startswith("f1_class_") for name in run.data.metrics)
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"confusion_matrix.png", "classification_report.txt", "lineage.json"} <= artifacts

    versions = client.search_model_versions(f"name = '{settings.model_name}'")
    assert len(versions) == 3
    assert {v.tags["family"] for v in versions} == set(training.FAMILIES)
    assert all(v.tags["training_id"] == trained["training_id"] for v in versions)
    assert all(len(v.tags[CHECKSUM_TAG]) == 64 for v in versions)  # the skops file's SHA-256, for predict
    assert champion_version(client, settings.model_name) == trained["decision"]["best_version"]
    assert trained["decision"]["reason"] == "first champion"
    assert_champion_serves_raw_rows(settings.model_name)
    assert_tracked_in_mysql_and_minio(settings, client, trained["parent_run_id"], children[0].info.run_id)


def assert_champion_serves_raw_rows(model_name: str) -> None:
    rows = generate(50, seed=99)
    raw = pd.DataFrame([row[:12] for row in rows], columns=list(FEATURES))  # strings, label dropped
    model = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    predicted = np.asarray(model.predict(raw))
    assert predicted.shape == (50,)
    assert set(predicted.tolist()) <= {int(row[12]) for row in generate(3000, seed=1)}
    accuracy = (predicted == np.array([int(row[12]) for row in rows])).mean()
    assert accuracy > 0.5


def assert_tracked_in_mysql_and_minio(settings, client, parent_run_id: str, child_run_id: str) -> None:
    connection = pymysql.connect(host=settings.mysql_host, port=settings.mysql_port, user=settings.mysql_user,
                                 password=settings.secret("mysql-password"), database=settings.mysql_database,
                                 connect_timeout=5)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT status, name FROM runs WHERE run_uuid = %s", (parent_run_id,))
            assert cursor.fetchone()[0] == "FINISHED"
            cursor.execute("SELECT value FROM metrics WHERE run_uuid = %s AND `key` = 'accuracy'", (child_run_id,))
            assert 0 < cursor.fetchone()[0] <= 1
    finally:
        connection.close()
    experiment_id = client.get_experiment_by_name(settings.experiment_name).experiment_id
    keys = storage.keys(settings, settings.artifact_bucket, f"{experiment_id}/", recursive=True)
    assert any(key.endswith("/model.skops") for key in keys), keys[:20]
    assert any(key.endswith(f"{child_run_id}/artifacts/confusion_matrix.png") for key in keys)


def test_worse_challenger_leaves_the_champion(stack_env, monkeypatch, handler, client):
    settings = isolate(monkeypatch, "worse")
    store_batches(settings, range(1, 11))
    strong = register_memorizing_champion(settings)

    status, body = call(handler, settings, minio_event_body(settings, 10))
    assert (status, body["status"]) == (200, "trained"), body
    decision = body["decision"]
    assert decision["alias"] == "challenger"
    assert decision["previous_champion"] == strong
    assert decision["previous_champion_accuracy"] > decision["best_accuracy"]
    assert champion_version(client, settings.model_name) == strong
    assert client.get_model_version_by_alias(settings.model_name, "challenger").version == decision["best_version"]


def register_memorizing_champion(settings) -> str:
    """A champion fitted on every stored row, holdout included: no honest candidate beats it."""
    from shared.batches import load_rows
    from shared.dataset import frame_from_rows

    frame = frame_from_rows(load_rows(settings, settings.group_number))
    pipeline = training.build_pipeline("random_forest")
    pipeline.set_params(classifier__min_samples_leaf=1, classifier__max_depth=None)
    pipeline.fit(frame[list(FEATURES)], frame["Cover_Type"])
    mlflow.set_experiment(settings.experiment_name)
    with mlflow.start_run(run_name="memorizing-champion"):
        info, sha256 = tracking.log_skops_model(pipeline, registered_model_name=settings.model_name)
    version = str(info.registered_model_version)
    MlflowClient().set_model_version_tag(settings.model_name, version, CHECKSUM_TAG, sha256)
    MlflowClient().set_registered_model_alias(settings.model_name, "champion", version)
    return version


def test_failed_training_marks_runs_failed_and_is_retried(stack_env, monkeypatch, handler, client):
    settings = isolate(monkeypatch, "fail")
    store_batches(settings, range(1, 11))
    status, first = call(handler, settings, minio_event_body(settings, 10))
    assert first["status"] == "trained"
    champion = champion_version(client, settings.model_name)

    # a bad hyper-parameter makes the last family fail after the others finished
    good = training.FAMILY_PARAMS["hist_gradient_boosting"]
    bad = {**good, "learning_rate": -1.0}
    monkeypatch.setitem(training.FAMILY_PARAMS, "hist_gradient_boosting", bad)
    status, body = call(handler, settings, json.dumps({"force": True}).encode(), admin_headers(settings))
    assert status == 500
    assert "champion is unchanged" in body["error"]
    failed_id = body["error"].split()[1]
    failed_runs = runs_of(client, settings, failed_id)
    assert len(failed_runs) == 4 and {run.info.status for run in failed_runs} == {"FAILED"}
    assert champion_version(client, settings.model_name) == champion
    assert len(client.search_model_versions(f"name = '{settings.model_name}'")) == 3

    monkeypatch.setitem(training.FAMILY_PARAMS, "hist_gradient_boosting", good)  # fixed: a forced call retries
    status, retried = call(handler, settings, json.dumps({"force": True}).encode(), admin_headers(settings))
    assert (status, retried["status"]) == (200, "trained"), retried
    assert len(client.search_model_versions(f"name = '{settings.model_name}'")) == 6
    assert retried["decision"]["alias"] in ("champion", "challenger")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic bm90OnJpZ2h0"}, {"Authorization": "Basic %%%"}],
    ids=["none", "wrong-token", "wrong-password", "garbled-basic"],
)
def test_rejects_callers_without_credentials(stack_env, monkeypatch, handler, headers):
    settings = isolate(monkeypatch, "auth")
    status, body = call(handler, settings, b'{"force": true}', headers)
    assert status == 401 and "error" in body


def test_admin_and_bad_requests(stack_env, monkeypatch, handler):
    settings = isolate(monkeypatch, "admin")
    status, body = call(handler, settings, b"", admin_headers(settings))
    assert (status, body["status"]) == (200, "waiting") and body["batches"] == []
    assert call(handler, settings, b"{not json", admin_headers(settings))[0] == 400
    assert call(handler, settings, b'{"force": "yes"}', admin_headers(settings))[0] == 400
    assert call(handler, settings, b'{"Records": [{"s3": {}}]}', admin_headers(settings))[0] == 400
    response = handler.handle(event(b"", admin_headers(settings), method="GET"), None)
    assert response["statusCode"] == 405


def test_events_for_other_objects_are_ignored(stack_env, monkeypatch, handler):
    settings = isolate(monkeypatch, "other")
    body = minio_event_body(settings, 1).replace(f"group={settings.group_number}".encode(), b"group=99")
    body = body.replace(f"group%3D{settings.group_number}".encode(), b"group%3D99")
    status, answer = call(handler, settings, body)
    assert (status, answer["status"]) == (200, "ignored")


def test_a_held_lock_defers_and_an_expired_one_is_taken_over(stack_env, monkeypatch, handler):
    settings = isolate(monkeypatch, "lock")
    store_batches(settings, range(1, 11))
    state = TrainingState(settings, settings.group_number)
    holder = {"training_id": "elsewhere", "batches": list(range(1, 11)), "started_at": "then"}

    storage.write_json(settings, settings.batch_bucket, state.lock_key, {**holder, "expires_at": time.time() + 600})
    status, body = call(handler, settings, minio_event_body(settings, 10))
    # 429: the gateway's queue retries the call (stack.yml's com.openfaas.retry.* annotations)
    assert (status, body["status"], body["training_id"]) == (429, "in_progress", "elsewhere")
    status, body = call(handler, settings, json.dumps({"force": True}).encode(), admin_headers(settings))
    assert (status, body["status"], body["training_id"]) == (429, "in_progress", "elsewhere")

    abandoned = start_abandoned_runs(settings, "elsewhere")  # what a killed trainer leaves in MLflow
    storage.write_json(settings, settings.batch_bucket, state.lock_key, {**holder, "expires_at": time.time() - 1})  # it crashed
    status, body = call(handler, settings, minio_event_body(settings, 10))
    assert (status, body["status"]) == (200, "trained"), body
    assert storage.read_json(settings, settings.batch_bucket, state.lock_key) is None  # released
    assert state.trained()["training_id"] == body["training_id"]
    for run_id in abandoned:
        run = mlflow_client(settings).get_run(run_id)
        assert run.info.status == "FAILED"
        assert "taken over" in run.data.tags["failure_reason"]
    assert runs_of(mlflow_client(settings), settings, body["training_id"])[0].info.status == "FINISHED"


def mlflow_client(settings) -> MlflowClient:
    return MlflowClient(settings.mlflow_tracking_uri)


def start_abandoned_runs(settings, training_id: str) -> list[str]:
    """A parent run and a child left RUNNING, as a SIGKILLed training leaves them."""
    client = mlflow_client(settings)
    experiment = client.get_experiment_by_name(settings.experiment_name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(settings.experiment_name)
    parent = client.create_run(experiment_id, tags={"training_id": training_id, "kind": "training"})
    child = client.create_run(experiment_id, tags={"training_id": training_id, "family": "random_forest",
                                                   "mlflow.parentRunId": parent.info.run_id})
    return [parent.info.run_id, child.info.run_id]
