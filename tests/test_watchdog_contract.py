"""What `faas-cli up` ships works: each function's shrinkwrapped build context, behind the
real of-watchdog (http mode) with its Dockerfile's environment, answers as the local runtime's does.

One case per function, against a real MinIO and MLflow of this module's own and the Data
API stand-in: fetch-batch stores a batch, train-model answers `waiting k/10`, predict serves a
champion with the champion's own predictions. Each function runs as its role's MinIO and
MLflow user, whose policies name the stack's own buckets, so the cases use those buckets
(in a stack no other test writes to) rather than buckets of their own.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pandas as pd
import pytest
import requests

from infra.gateway import runtime
from infra.gateway.stackfile import Function, load_stack_file
from shared import storage
from shared.batches import batch_key
from shared.quality import quality_key
from shared.schema import FEATURES
from shared.settings import load_settings
from shared.settings.stack import ROOT
from tests.conftest import free_port, running_stack
from tests.data_api_support import stand_in
from tests.predict_support import register_model, sample_records
from tests.train_support import minio_event_body, store_batches, webhook_headers
from tests.watchdog_support import OF_WATCHDOG, behind_watchdog, dockerfile_env, shrinkwrap

pytestmark = pytest.mark.services

FUNCTIONS = ("fetch-batch", "train-model", "predict")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("watchdog-stack")) as started:
        yield started


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return shrinkwrap(tmp_path_factory.mktemp("shrinkwrap"))


def deployed(stack, name: str, **env: str) -> Function:
    """The function as `faas-cli deploy` would create it from stack.yml, with the test stack's addresses."""
    return load_stack_file(ROOT / "stack.yml", {**os.environ, **stack.config.service_env(), **env}).functions[name]


def run(build, stack, function: Function, tmp_path, ports: list[int]):
    secrets = runtime.function_secrets_dir(stack.config, function, f"{function.name}-watchdog")
    return behind_watchdog(build / function.name, function, secrets, ports, tmp_path / f"{function.name}.log")


def log_of(tmp_path, name: str) -> str:
    path = tmp_path / f"{name}.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def assert_served_by_the_watchdog(url: str, response: requests.Response) -> None:
    assert float(response.headers["X-Duration-Seconds"]) > 0  # of-watchdog times every call
    assert requests.get(f"{url}/_/health", timeout=5).status_code == 200


def test_each_build_context_is_the_template_with_the_function_and_shared_code(build):
    assert sorted(path.name for path in build.iterdir()) == sorted(FUNCTIONS)
    version = subprocess.run([OF_WATCHDOG, "-version"], capture_output=True, text=True, timeout=10)
    watchdog_version = (version.stdout + version.stderr).split("Version: ")[1].split()[0]
    for name in FUNCTIONS:
        context = build / name
        assert (context / "index.py").read_bytes() == (ROOT / "template/python3-http-debian/index.py").read_bytes()
        assert (context / "function" / "handler.py").read_bytes() == (ROOT / "functions" / name / "handler.py").read_bytes()
        assert (context / "function" / "shared" / "settings" / "__init__.py").is_file()
        assert f"ARG WATCHDOG_IMAGE=ghcr.io/openfaas/of-watchdog:{watchdog_version}\n" in (context / "Dockerfile").read_text()
        env = dockerfile_env(context / "Dockerfile")
        assert env["mode"] == "http" and env["fprocess"] == "python index.py"
        assert env["upstream_url"] == f"http://127.0.0.1:{env['FUNCTION_PORT']}"  # index.py listens where the watchdog calls


def test_fetch_batch_behind_the_watchdog_stores_a_batch(build, stack, tmp_path):
    data_api_port = free_port()
    with stand_in(tmp_path / "data-api", data_api_port, rows=58101) as data_api_url:
        function = deployed(stack, "fetch-batch", DATA_API_URL=data_api_url)
        with run(build, stack, function, tmp_path, [stack.config.ports["minio"], data_api_port]) as url:
            response = requests.post(url, timeout=60)
            assert_served_by_the_watchdog(url, response)
    assert response.status_code == 200, (response.text, log_of(tmp_path, "fetch-batch"))
    body = response.json()
    settings = load_settings(stack.config.service_env())
    assert (body["reason"], body["batch_number"], body["rows"]) == ("stored", 1, 581)
    assert body["key"] == batch_key(settings, settings.group_number, 1)
    stored = storage.keys(settings, settings.batch_bucket, recursive=True)
    assert stored == [body["key"], quality_key(settings.group_number, 1)]  # the batch and its quality report


def test_train_model_behind_the_watchdog_waits_for_ten_batches(build, stack, tmp_path):
    env = {"GROUP_NUMBER": "7"}  # not fetch-batch's group 6
    settings = load_settings({**stack.config.service_env(), **env})
    store_batches(settings, [1, 2, 3])
    function = deployed(stack, "train-model", **env)
    ports = [stack.config.ports["minio"], stack.config.ports["mlflow"]]
    with run(build, stack, function, tmp_path, ports) as url:
        response = requests.post(url, data=minio_event_body(settings, 3), headers=webhook_headers(settings), timeout=60)
        refused = requests.post(url, data=minio_event_body(settings, 3), timeout=60)
        assert_served_by_the_watchdog(url, response)
    assert response.status_code == 200, (response.text, log_of(tmp_path, "train-model"))
    assert response.json()["message"] == f"waiting 3/10 batches of group {settings.group_number}"
    assert refused.status_code == 401, refused.text  # no webhook token, no admin credentials


def test_predict_behind_the_watchdog_answers_as_the_champion(build, stack, tmp_path):
    model_name = f"wd-predict-{uuid.uuid4().hex[:8]}"
    version, pipeline = register_model(stack.config.url("mlflow"), model_name)
    function = deployed(stack, "predict", MODEL_NAME=model_name)
    records = sample_records(25, seed=12)
    ports = [stack.config.ports["minio"], stack.config.ports["mlflow"]]
    with run(build, stack, function, tmp_path, ports) as url:
        champion = requests.get(url, timeout=30)
        response = requests.post(url, json={"instances": records}, timeout=30)
        bad = requests.post(url, json={"instances": [{"Elevation": "high"}]}, timeout=30)
        assert_served_by_the_watchdog(url, response)
    assert champion.status_code == 200, (champion.text, log_of(tmp_path, "predict"))
    assert (champion.json()["name"], champion.json()["version"]) == (model_name, version)
    assert response.status_code == 200, (response.text, log_of(tmp_path, "predict"))
    expected = pipeline.predict(pd.DataFrame(records, columns=list(FEATURES))).tolist()
    assert [p["cover_type"] for p in response.json()["predictions"]] == expected
    assert bad.status_code in (400, 422) and "Elevation" in bad.text
