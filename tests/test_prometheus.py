"""The real Prometheus (Debian's package, started by the stack) scraping the real gateway:
calls through the gateway show up in PromQL, and the UI's backend reads them back.

The gateway serves stack.yml's functions under a supervisord of its own, without the
databases: predict answers 503 without MLflow, and a 503 is a call like any other here."""

from __future__ import annotations

import dataclasses
import time

import pytest
import requests

from shared.settings import load_settings
from shared.settings.stack import ROOT
from tests.runtime_support import runtime_stack
from ui.backend import Backend

pytestmark = pytest.mark.services

CALLS = 7
PREDICT_CALLS = 'sum(gateway_function_invocation_total{function_name="predict.openfaas-fn"})'


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    """(gateway URL, Prometheus URL, settings for the UI's backend)."""
    with runtime_stack(tmp_path_factory.mktemp("observed"), stack_file=ROOT / "stack.yml") as stack:
        stack.up(["prometheus"], progress=lambda line: None)
        settings = dataclasses.replace(load_settings(stack.env()), http_timeout=5)
        yield stack.config.url("gateway"), stack.config.url("prometheus"), settings


def query(prometheus: str, promql: str) -> float | None:
    """The instant value of a PromQL query summed over its series; None when it has none."""
    body = requests.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert body["status"] == "success", body
    result = body["data"]["result"]
    return sum(float(series["value"][1]) for series in result) if result else None


def wait_for(condition, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout:g} s"
        time.sleep(1)


def test_calls_through_the_gateway_are_counted_in_prometheus(observed):
    gateway, prometheus, settings = observed
    assert requests.get(f"{gateway}/metrics", timeout=5).status_code == 200
    wait_for(lambda: query(prometheus, 'up{job="gateway"}') == 1, "Prometheus scraped the gateway")
    requests.get(f"{gateway}/function/predict", timeout=30)  # the series exists before we count
    wait_for(lambda: query(prometheus, PREDICT_CALLS) is not None, "the predict series appeared")
    before = query(prometheus, PREDICT_CALLS)

    codes = [requests.get(f"{gateway}/function/predict", timeout=30).status_code for _ in range(CALLS)]
    wait_for(lambda: query(prometheus, PREDICT_CALLS) >= before + CALLS, f"{CALLS} more predict calls were scraped")
    assert query(prometheus, PREDICT_CALLS) == before + CALLS
    by_code = f'sum(gateway_function_invocation_total{{function_name="predict.openfaas-fn",code="{codes[-1]}"}})'
    assert query(prometheus, by_code) >= codes.count(codes[-1])

    # what the Operations page shows: rates and latency quantiles over the last hour, per function
    backend = Backend(settings, gateway, prometheus)
    wait_for(lambda: backend.operations()["calls"].get("predict"), "a predict rate over the last hour")
    operations = backend.operations()
    assert max(value for _, value in operations["calls"]["predict"]) > 0
    p50, p99 = (max(value for _, value in operations[name]["predict"]) for name in ("p50", "p99"))
    assert 0 < p50 <= p99 < 30  # seconds


def test_the_backend_reads_functions_schedule_and_logs_from_the_gateway(observed):
    gateway, _, settings = observed
    backend = Backend(settings, gateway)
    functions = {fn["name"]: fn for fn in backend.functions()}
    assert set(functions) == {"fetch-batch", "train-model", "predict"}
    fetch = functions["fetch-batch"]
    assert fetch["schedule"] == "*/5 * * * *"
    assert fetch["next_firing"].endswith("+00:00") and fetch["next_firing"][14:16] in {f"{m:02d}" for m in range(0, 60, 5)}
    requests.get(f"{gateway}/function/predict", timeout=30)
    # on main the functions write nothing to their logs for these calls, so lines may be none;
    # the gateway must still answer /system/logs (else UpstreamError) with well-formed messages
    lines = backend.function_logs("predict", 5)
    assert len(lines) <= 5
    assert all({"name", "instance", "timestamp", "text"} <= set(line) and line["name"] == "predict" for line in lines)
