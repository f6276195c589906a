"""MLflow stops while predict serves: the cached champion keeps answering and info says degraded.

This test runs a stack of its own, so stopping MLflow does not disturb the session's.
"""

from __future__ import annotations

import time

import pytest
import requests

from tests.conftest import running_stack
from tests.predict_support import predict_process, register_model, sample_records

pytestmark = pytest.mark.services


@pytest.fixture
def own_stack(tmp_path):
    with running_stack(tmp_path / "stack") as started:
        yield started


def wait_for_status(url: str, wanted: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    info: dict = {}
    while time.monotonic() < deadline:
        info = requests.get(url, timeout=10).json()
        if info.get("status") == wanted:
            return info
        time.sleep(0.2)
    raise AssertionError(f"status never became {wanted}: {info}")


def test_mlflow_down_keeps_serving_from_the_cache(own_stack, tmp_path):
    env = own_stack.config.service_env()
    version, _ = register_model(env["MLFLOW_TRACKING_URI"], "predict-outage")
    records = sample_records(5, seed=8)
    function_env = {**env, "MODEL_NAME": "predict-outage", "MODEL_POLL_SECONDS": "0.5", "HTTP_TIMEOUT": "5"}
    with predict_process(function_env, tmp_path / "predict.log") as url:
        before = requests.post(url, json={"instances": records}, timeout=30).json()
        own_stack.stop("mlflow")
        degraded = wait_for_status(url, "degraded", timeout=15)
        during = [requests.post(url, json={"instances": records}, timeout=10) for _ in range(5)]
        own_stack.start("mlflow")
        recovered = wait_for_status(url, "ok", timeout=60)
        after = requests.post(url, json={"instances": records}, timeout=10)
    assert degraded["version"] == version and "MLflow" in degraded["error"]
    assert all(r.status_code == 200 and r.json()["predictions"] == before["predictions"] for r in during)
    assert recovered["version"] == version and "error" not in recovered
    assert after.json()["predictions"] == before["predictions"]
