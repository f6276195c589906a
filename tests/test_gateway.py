"""The local gateway, for real: function processes under supervisord behind our gateway.

Runs the runtime tests' own stack (tests/fixtures/stack.yml: `echo`, `worker`, and
`absent` whose handler does not exist), on free ports in a temporary state directory: the
`runtime`, `url` and `auth` fixtures of tests/conftest.py.
"""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from infra.gateway.runtime import PROGRAM_PREFIX
from tests.pipeline_support import wait_for
from tests.runtime_support import answers


# --- sync ----------------------------------------------------------------------------------
def test_sync_call_passes_method_path_suffix_query_headers_and_body(url):
    response = requests.put(
        f"{url}/function/echo/models/a%20b/7?x=1&x=2&q=%C3%A9", data=b"payload \x00 bytes",
        headers={"X-Custom": "kept", "Content-Type": "application/x-test"}, timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["X-Echo"] == "yes"  # the function's own headers come back
    assert response.headers["X-Call-Id"]
    seen = response.json()
    assert seen["method"] == "PUT"
    assert seen["path"] == "/models/a b/7"
    assert seen["query"] == {"x": ["1", "2"], "q": ["é"]}
    assert seen["headers"]["X-Custom"] == "kept"
    assert seen["headers"]["Content-Type"] == "application/x-test"
    assert seen["headers"]["X-Call-Id"] == response.headers["X-Call-Id"]
    assert seen["body"] == "payload \x00 bytes"
    assert seen["hostname"] == "echo"
    assert seen["greeting"] == "hello from stack.yml"  # environment from stack.yml


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_every_method_is_passed_through(url, method):
    response = requests.request(method, f"{url}/function/echo", timeout=10)
    assert response.status_code == 200
    assert response.json()["method"] == method
    assert response.json()["path"] == "/"


def test_function_status_code_and_body_are_passed_back(url):
    response = requests.get(f"{url}/function/echo/status/418", timeout=10)
    assert response.status_code == 418
    assert response.text == "status 418"


def test_a_burst_past_the_functions_connection_limit_is_answered_in_full(url):
    # waitress takes 100 connections; before the gateway capped its pool at
    # GATEWAY_UPSTREAM_CONNECTIONS (64), the calls past 100 waited for exec_timeout and got 504
    with ThreadPoolExecutor(120) as pool:
        statuses = list(pool.map(lambda _: requests.get(f"{url}/function/echo/sleep/0.05", timeout=30).status_code,
                                 range(120)))
    assert statuses == [200] * 120


def test_namespace_suffix_is_accepted_as_in_openfaas(url):
    assert requests.get(f"{url}/function/echo.openfaas-fn/status/200", timeout=10).status_code == 200
    assert requests.get(f"{url}/function/echo.other-ns", timeout=10).status_code == 404


def test_unknown_function_is_404(url):
    response = requests.post(f"{url}/function/no-such-function", data=b"x", timeout=10)
    assert response.status_code == 404
    assert "no-such-function" in response.text
    assert requests.post(f"{url}/async-function/no-such-function", timeout=10).status_code == 404


def test_function_without_a_process_is_502_naming_it(url):
    response = requests.get(f"{url}/function/absent", timeout=10)
    assert response.status_code == 502
    assert "function absent" in response.text


def test_stopped_function_is_502_naming_it_then_recovers(runtime, url):
    runtime.ctl("stop", PROGRAM_PREFIX + "echo")
    try:
        response = requests.get(f"{url}/function/echo", timeout=10)
        assert response.status_code == 502
        assert "function echo" in response.text
    finally:
        runtime.ctl("start", PROGRAM_PREFIX + "echo")
    wait_for(lambda: requests.get(f"{url}/function/echo", timeout=10).status_code == 200, 20, "echo started again")


def test_crashed_function_is_restarted(runtime, url):
    pid_before = runtime.ctl("pid", PROGRAM_PREFIX + "echo").stdout.strip()
    crash = requests.get(f"{url}/function/echo/crash", timeout=10)
    assert crash.status_code == 502
    assert "function echo" in crash.text
    wait_for(lambda: requests.get(f"{url}/function/echo", timeout=10).status_code == 200, 20, "echo restarted")
    assert runtime.ctl("pid", PROGRAM_PREFIX + "echo").stdout.strip() != pid_before


def test_healthz(url):
    assert requests.get(f"{url}/healthz", timeout=10).status_code == 200


# --- /system -------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/system/functions", "/system/function/echo", "/system/namespaces", "/system/info"])
def test_system_routes_need_basic_auth(url, auth, path):
    assert requests.get(url + path, timeout=10).status_code == 401
    assert requests.get(url + path, auth=(auth[0], "wrong"), timeout=10).status_code == 401
    assert requests.get(url + path, auth=("wrong", auth[1]), timeout=10).status_code == 401
    unauthorized = requests.get(url + path, timeout=10)
    assert unauthorized.headers["WWW-Authenticate"].startswith("Basic")
    assert requests.get(url + path, auth=auth, timeout=10).status_code == 200


def test_system_functions_lists_the_stack_as_openfaas_does(url, auth):
    functions = {f["name"]: f for f in requests.get(f"{url}/system/functions", auth=auth, timeout=10).json()}
    assert set(functions) == {"echo", "worker", "absent"}
    echo = functions["echo"]
    assert echo["image"] == "local/echo:test"
    assert echo["namespace"] == "openfaas-fn"
    assert echo["labels"] == {"team": "tests"}
    assert echo["annotations"] == {"topic": "test-topic"}
    assert echo["envProcess"] == "python index.py"
    assert echo["envVars"]["ECHO_GREETING"] == "hello from stack.yml"
    assert echo["secrets"] == ["basic-auth-user"]
    assert echo["replicas"] == 1 and echo["availableReplicas"] == 1
    assert isinstance(echo["invocationCount"], int)
    assert functions["absent"]["availableReplicas"] == 0


def test_invocation_count_grows_with_calls(url, auth):
    def count() -> int:
        return requests.get(f"{url}/system/function/worker", auth=auth, timeout=10).json()["invocationCount"]

    before = count()
    for _ in range(3):
        requests.get(f"{url}/function/worker/status/200", timeout=10)
    assert count() == before + 3


def test_describe_and_namespaces(url, auth):
    described = requests.get(f"{url}/system/function/echo", auth=auth, timeout=10).json()
    assert described["name"] == "echo" and described["annotations"] == {"topic": "test-topic"}
    assert requests.get(f"{url}/system/function/nope", auth=auth, timeout=10).status_code == 404
    assert requests.get(f"{url}/system/namespaces", auth=auth, timeout=10).json() == ["openfaas-fn"]
    listed = requests.get(f"{url}/system/functions?namespace=elsewhere", auth=auth, timeout=10).json()
    assert listed == []


def test_function_sees_only_its_declared_secrets(runtime):
    secrets_dir = runtime.config.state_dir / "functions" / "echo" / "secrets"
    assert sorted(p.name for p in secrets_dir.iterdir()) == ["basic-auth-user"]
    worker_dir = runtime.config.state_dir / "functions" / "worker" / "secrets"
    assert list(worker_dir.iterdir()) == []


def test_gateway_restarts_after_sigkill(runtime, url):
    pid = int(runtime.ctl("pid", "gateway").stdout)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: answers(f"{url}/healthz"), 20, "the gateway back")
    assert int(runtime.ctl("pid", "gateway").stdout) != pid

