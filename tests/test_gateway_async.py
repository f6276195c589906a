"""/async-function for real: 202 and a call id, callbacks, retries, a bounded pool, and
calls that survive a SIGKILL of the gateway (the queue is on disk before the 202)."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
import requests

from infra.config import ROOT
from infra.gateway.asyncq import RetryPolicy, policy_from_annotations
from infra.gateway.settings import load_gateway_settings
from infra.gateway.stackfile import load_stack_file
from tests.runtime_support import CallbackReceiver, runtime_stack

WORKERS = 3
ATTEMPTS = 3


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    env = {"GATEWAY_ASYNC_WORKERS": str(WORKERS), "GATEWAY_ASYNC_MAX_ATTEMPTS": str(ATTEMPTS),
           "GATEWAY_RETRY_DELAY": "0.05"}
    with runtime_stack(tmp_path_factory.mktemp("gateway-async"), env=env) as started:
        yield started


@pytest.fixture(scope="module")
def url(runtime) -> str:
    return runtime.config.url("gateway")


@pytest.fixture
def callbacks():
    with CallbackReceiver() as receiver:
        yield receiver


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:10]


def submit(url: str, path: str, callback: str | None = None, body: bytes = b"", headers=None) -> str:
    headers = dict(headers or {})
    if callback:
        headers["X-Callback-Url"] = callback
    response = requests.post(f"{url}/async-function/{path}", data=body, headers=headers, timeout=10)
    assert response.status_code == 202, response.text
    return response.headers["X-Call-Id"]


def stats(url: str, tag: str) -> dict:
    return requests.get(f"{url}/function/worker/stats?tag={tag}", timeout=10).json()


def test_accepted_with_202_and_a_call_id_then_the_callback_carries_the_result(url, callbacks):
    call_id = submit(url, "echo/some/path?k=v", callbacks.url, body=b"async body",
                     headers={"X-Custom": "1", "Authorization": "Bearer webhook-token"})
    result = callbacks.wait_for([call_id])[call_id]
    assert result.headers["X-Function-Status"] == "200"
    assert result.headers["X-Function-Name"] == "echo"
    assert float(result.headers["X-Duration-Seconds"]) >= 0
    assert result.headers["Content-Type"] == "application/json"
    seen = result.json()
    assert seen["body"] == "async body"
    assert seen["path"] == "/some/path" and seen["query"] == {"k": ["v"]}
    assert seen["headers"]["X-Custom"] == "1"
    assert seen["headers"]["Authorization"] == "Bearer webhook-token"  # MinIO's webhook token gets through
    assert seen["headers"]["X-Call-Id"] == call_id


def test_callback_reports_a_4xx_once_without_retry(url, callbacks):
    call_id = submit(url, "echo/status/404", callbacks.url)
    assert callbacks.wait_for([call_id])[call_id].headers["X-Function-Status"] == "404"


def test_failing_function_is_retried_then_reported(url, callbacks, tag):
    call_id = submit(url, f"worker/fail?tag={tag}", callbacks.url)
    result = callbacks.wait_for([call_id])[call_id]
    assert result.headers["X-Function-Status"] == "503"
    assert result.json() == {"error": "failing on purpose", "tag": tag}
    assert stats(url, tag)["hits"] == ATTEMPTS
    assert len(callbacks.for_call(call_id)) == 1


def test_unreachable_function_is_retried_then_reported_as_502(url, callbacks):
    call_id = submit(url, "absent", callbacks.url)
    result = callbacks.wait_for([call_id])[call_id]
    assert result.headers["X-Function-Status"] == "502"
    assert b"function absent" in result.body


def test_bad_callback_url_is_400(url):
    response = requests.post(f"{url}/async-function/echo", headers={"X-Callback-Url": "ftp://x"}, timeout=10)
    assert response.status_code == 400
    assert "X-Callback-Url" in response.text


def test_fifty_queued_calls_run_at_most_pool_size_at_once(url, callbacks, tag):
    call_ids = [submit(url, f"worker/sleep/0.1?tag={tag}", callbacks.url) for _ in range(50)]
    results = callbacks.wait_for(call_ids, timeout=30)
    assert {r.headers["X-Function-Status"] for r in results.values()} == {"200"}
    seen = stats(url, tag)
    assert seen["hits"] == 50
    assert seen["max_in_flight"] == WORKERS  # the pool is used, and never exceeded


def test_calls_accepted_before_a_sigkill_still_run_after_the_restart(runtime, url, callbacks, tag):
    call_ids = [submit(url, f"worker/sleep/0.3?tag={tag}", callbacks.url) for _ in range(12)]
    os.kill(int(runtime.ctl("pid", "gateway").stdout), signal.SIGKILL)
    done_before_kill = len(callbacks.calls)
    assert done_before_kill < len(call_ids)  # most were still queued when the gateway died
    results = callbacks.wait_for(call_ids, timeout=40)
    assert {r.headers["X-Function-Status"] for r in results.values()} == {"200"}
    queue_dir = runtime.config.state_dir / "gateway" / "queue"
    deadline = time.monotonic() + 10
    while list(queue_dir.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(queue_dir.glob("*.json")) == []  # every call done and removed from the queue


DEFAULT_POLICY = RetryPolicy(attempts=3, min_wait=1.0, max_wait=60.0)


def test_retry_annotations_override_the_gateway_defaults():
    policy = policy_from_annotations({"com.openfaas.retry.attempts": "10", "com.openfaas.retry.codes": "429,502 504",
                                      "com.openfaas.retry.min_wait": "500ms", "com.openfaas.retry.max_wait": "2s"},
                                     DEFAULT_POLICY)
    assert policy == RetryPolicy(attempts=10, min_wait=0.5, max_wait=2.0, codes=frozenset({429, 502, 504}))
    assert [policy.wait(runs) for runs in range(1, 6)] == [0.5, 1.0, 2.0, 2.0, 2.0]  # doubling, capped
    assert policy.retries(429, 9) and not policy.retries(429, 10)  # ten runs in all
    assert not policy.retries(500, 1)  # only the codes listed


def test_without_annotations_any_5xx_is_retried_as_the_settings_say():
    policy = policy_from_annotations({"topic": "x"}, DEFAULT_POLICY)
    assert policy == DEFAULT_POLICY
    assert policy.retries(503, 2) and not policy.retries(503, 3) and not policy.retries(429, 1)


def test_invalid_or_unbounded_annotations_are_ignored_or_capped():
    policy = policy_from_annotations({"com.openfaas.retry.attempts": "1000000", "com.openfaas.retry.codes": "soon",
                                      "com.openfaas.retry.min_wait": "ten", "com.openfaas.retry.max_wait": "48h"},
                                     DEFAULT_POLICY)
    assert policy == RetryPolicy(attempts=3, min_wait=1.0, max_wait=300.0)
    assert policy_from_annotations({"com.openfaas.retry.codes": "200"}, DEFAULT_POLICY).codes is None


def test_train_models_retries_outlast_its_lock_lease():
    stack = load_stack_file(ROOT / "stack.yml", {})
    default = RetryPolicy(3, 1.0, load_gateway_settings({}).retry_max_wait)
    policy = policy_from_annotations(stack.functions["train-model"].annotations, default)
    assert 429 in policy.codes and 502 in policy.codes
    window = sum(policy.wait(runs) for runs in range(1, policy.attempts))
    lease = float(stack.functions["train-model"].environment["TRAINING_LOCK_LEASE_SECONDS"])
    assert window > 3 * lease, window
