"""The real stack.yml behind the gateway, on the session stack: the project's functions run."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.services


def test_gateway_lists_the_three_functions_and_runs_each_one_with_a_handler(stack, gateway):
    auth = (stack.config.secret("basic-auth-user"), stack.config.secret("basic-auth-password"))
    functions = {f["name"]: f for f in requests.get(f"{gateway}/system/functions", auth=auth, timeout=10).json()}
    assert set(functions) == {"fetch-batch", "train-model", "predict"}
    assert functions["fetch-batch"]["annotations"]["topic"] == "cron-function"
    running = stack.programs("functions")
    assert running, "no function has a handler yet"
    for program in running:
        name = program.removeprefix("fn-")
        assert functions[name]["availableReplicas"] == 1, f"{name} is not serving"


def test_predict_answers_through_the_gateway(stack, gateway):
    if "fn-predict" not in stack.programs("functions"):
        pytest.skip("predict has no handler yet")
    response = requests.get(f"{gateway}/function/predict", timeout=30)
    assert response.status_code in (200, 503)  # 503: no champion trained yet in this session
    assert response.headers["Content-Type"].startswith("application/json")
