"""The gateway's admin API over HTTP: scale, replicas, metrics, refusals, and state kept over a restart.

Against a gateway + functions stack of its own (tests/fixtures/stack.yml; `runtime`, `url`, `auth`: tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from shared.settings.stack import ROOT
from tests.pipeline_support import wait_for
from tests.runtime_support import answers


def status(url, auth, name: str) -> dict:
    return requests.get(f"{url}/system/function/{name}", auth=auth, timeout=10).json()


def scale(url, auth, name: str, replicas: int) -> requests.Response:
    return requests.post(f"{url}/system/scale-function/{name}", json={"serviceName": name, "replicas": replicas},
                         auth=auth, timeout=60)


def replicas_are(url, auth, name, wanted, available):
    current = status(url, auth, name)
    return current["replicas"] == wanted and current["availableReplicas"] == available


# --- scale ---------------------------------------------------------------------------------
def test_two_replicas_both_answer_and_available_replicas_follow_a_kill(runtime, url, auth):
    assert scale(url, auth, "echo", 2).status_code == 202
    try:
        wait_for(lambda: replicas_are(url, auth, "echo", 2, 2), 30, "2 ready replicas")
        hosts = {requests.get(f"{url}/function/echo", timeout=10).json()["hostname"] for _ in range(10)}
        assert hosts == {"echo", "echo-1"}
        os.kill(int(runtime.ctl("pid", "fn-echo-1").stdout), signal.SIGKILL)
        wait_for(lambda: status(url, auth, "echo")["availableReplicas"] == 1, 30, "availableReplicas 1",
                 interval=0.2)  # until supervisord has restarted the replica
        assert all(requests.get(f"{url}/function/echo", timeout=10).status_code == 200 for _ in range(5))
        wait_for(lambda: replicas_are(url, auth, "echo", 2, 2), 30, "the killed replica back")
    finally:
        scale(url, auth, "echo", 1)
    wait_for(lambda: replicas_are(url, auth, "echo", 1, 1), 30, "back to 1 replica")
    assert "RUNNING" not in runtime.ctl("status", "fn-echo-1").stdout


def test_scaled_to_zero_the_next_call_starts_it_and_waits(runtime, url, auth):
    assert scale(url, auth, "worker", 0).status_code == 202
    assert replicas_are(url, auth, "worker", 0, 0)
    assert "RUNNING" not in runtime.ctl("status", "fn-worker").stdout
    response = requests.get(f"{url}/function/worker/status/200", timeout=60)
    assert response.status_code == 200
    assert replicas_are(url, auth, "worker", 1, 1)


def test_deploy_scale_and_remove_survive_a_gateway_restart(runtime, url, auth):
    assert scale(url, auth, "echo", 2).status_code == 202
    assert requests.delete(f"{url}/system/functions", json={"functionName": "worker"}, auth=auth,
                           timeout=60).status_code == 202
    try:
        os.kill(int(runtime.ctl("pid", "gateway").stdout), signal.SIGKILL)
        wait_for(lambda: answers(f"{url}/healthz"), 30, "the gateway back")
        wait_for(lambda: replicas_are(url, auth, "echo", 2, 2), 30, "2 replicas after the restart")
        assert requests.get(f"{url}/function/worker", timeout=10).status_code == 404
        names = {f["name"] for f in requests.get(f"{url}/system/functions", auth=auth, timeout=10).json()}
        assert "worker" not in names and "echo" in names
    finally:
        scale(url, auth, "echo", 1)
        worker = {"service": "worker", "image": "local/echo:test", "envVars": {"exec_timeout": "5s"}}
        assert requests.post(f"{url}/system/functions", json=worker, auth=auth, timeout=60).status_code == 202
    assert requests.get(f"{url}/function/worker", timeout=60).status_code == 200


def test_deployed_limits_reach_the_process(runtime, url, auth):
    echo = {"service": "echo", "image": "local/echo:test", "secrets": ["basic-auth-user"],
            "envVars": {"ECHO_GREETING": "hello from stack.yml", "exec_timeout": "5s"},
            "labels": {"team": "tests"}, "annotations": {"topic": "test-topic"}}
    limited = {**echo, "limits": {"memory": "512Mi", "cpu": "1"}}
    assert requests.put(f"{url}/system/functions", json=limited, auth=auth, timeout=60).status_code == 202
    try:
        assert requests.get(f"{url}/function/echo", timeout=60).status_code == 200
        assert status(url, auth, "echo")["limits"] == {"memory": "512Mi", "cpu": "1"}
        pid = int(runtime.ctl("pid", "fn-echo").stdout)
        data_limit = next(line for line in open(f"/proc/{pid}/limits") if line.startswith("Max data size"))
        assert data_limit.split()[3] == str(512 * 2**20)
        assert len(os.sched_getaffinity(pid)) == 1
    finally:
        assert requests.put(f"{url}/system/functions", json=echo, auth=auth, timeout=60).status_code == 202
    assert "limits" not in status(url, auth, "echo")


# --- metrics -------------------------------------------------------------------------------
def samples(url) -> dict[tuple[str, tuple], float]:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_the_calls_made(url, auth):
    fn = (("function_name", "worker.openfaas-fn"),)
    before = samples(url)
    for _ in range(4):
        assert requests.get(f"{url}/function/worker/status/200", timeout=10).status_code == 200
    for _ in range(3):
        assert requests.get(f"{url}/function/worker/status/503", timeout=10).status_code == 503
    after = samples(url)

    def grew(name, labels):
        key = (name, tuple(sorted(labels)))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("gateway_function_invocation_total", fn + (("code", "200"),)) == 4
    assert grew("gateway_function_invocation_total", fn + (("code", "503"),)) == 3
    assert grew("gateway_functions_seconds_count", fn + (("code", "200"),)) == 4
    assert grew("gateway_function_invocation_started", fn) == 7
    assert after[("gateway_service_count", fn)] == 1
    total = sum(v for (name, labels), v in after.items()
                if name == "gateway_function_invocation_total" and dict(labels)["function_name"] == fn[0][1])
    assert status(url, auth, "worker")["invocationCount"] == total


# --- refusals --------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "body", "code", "words"), [
    ("POST", "/system/functions", {"image": "x"}, 400, "service"),
    ("POST", "/system/functions", {"service": "../x"}, 400, "service"),
    ("POST", "/system/functions", {"service": "not-in-stack"}, 400, "stack.yml"),
    ("POST", "/system/functions", {"service": "absent"}, 400, "handler.py"),
    ("POST", "/system/functions", {"service": "echo", "envVars": {"A": 1}}, 400, "envVars"),
    ("POST", "/system/functions", {"service": "echo", "namespace": "other"}, 404, "namespace"),
    ("PUT", "/system/functions", "not json", 400, "JSON"),
    ("DELETE", "/system/functions", {"functionName": "nope"}, 404, "nope"),
    ("POST", "/system/scale-function/echo", {"replicas": -1}, 400, "replicas"),
    ("POST", "/system/scale-function/echo", {"replicas": "2"}, 400, "replicas"),
    ("POST", "/system/scale-function/echo", {"replicas": 99}, 400, "GATEWAY_MAX_REPLICAS"),
    ("POST", "/system/scale-function/nope", {"replicas": 1}, 404, "nope"),
    ("POST", "/system/secrets", {"name": "../escape", "value": "x"}, 400, "name"),
    ("POST", "/system/secrets", {"name": ".hidden", "value": "x"}, 400, "name"),
    ("POST", "/system/secrets", {"name": "fine"}, 400, "value"),
    ("POST", "/system/secrets", {"name": "basic-auth-user", "value": "x"}, 409, "exists"),
    ("PUT", "/system/secrets", {"name": "never-made", "value": "x"}, 404, "never-made"),
    ("DELETE", "/system/secrets", {"name": "never-made"}, 404, "never-made"),
    ("GET", "/system/logs?name=nope", None, 404, "nope"),
    ("GET", "/system/logs?name=echo&tail=many", None, 400, "tail"),
    ("GET", "/system/logs?name=echo&since=yesterday", None, 400, "since"),
    ("GET", "/system/namespace/elsewhere", None, 404, "elsewhere"),
    ("PATCH", "/system/functions", None, 405, "PATCH"),
    ("DELETE", "/system/info", None, 405, "GET"),
    ("GET", "/system/nothing-here", None, 404, "/system/nothing-here"),
])
def test_a_request_it_cannot_serve_names_the_reason_and_changes_nothing(runtime, url, auth, method, path, body,
                                                                         code, words):
    secrets_before = sorted(p.name for p in runtime.config.secrets_dir.iterdir())
    functions_before = requests.get(f"{url}/system/functions", auth=auth, timeout=10).json()
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    response = requests.request(method, url + path, auth=auth, timeout=30, **kwargs)
    assert response.status_code == code
    assert words in response.text
    assert sorted(p.name for p in runtime.config.secrets_dir.iterdir()) == secrets_before
    functions_after = requests.get(f"{url}/system/functions", auth=auth, timeout=10).json()
    assert [(f["name"], f["replicas"], f["envVars"]) for f in functions_after] == \
           [(f["name"], f["replicas"], f["envVars"]) for f in functions_before]


def test_logs_are_newline_delimited_json_from_the_function(url, auth):
    requests.get(f"{url}/function/echo/log/ndjson-check", timeout=10)
    response = requests.get(f"{url}/system/logs", params={"name": "echo", "tail": "1"}, auth=auth, timeout=10)
    assert response.headers["Content-Type"].startswith("application/x-ndjson")
    lines = response.text.splitlines()
    assert len(lines) == 1
    message = json.loads(lines[0])
    assert set(message) == {"name", "namespace", "instance", "timestamp", "text"}
    assert message["name"] == "echo" and message["instance"] == "echo" and "ndjson-check" in message["text"]


# --- the cron-connector reads what was deployed --------------------------------------------
CRON_CONNECTOR = Path(os.environ.get("OPENFAAS_BIN_DIR", ROOT.parent / "shared" / "openfaas" / "bin")) / "cron-connector"


def invocations(url, name: str) -> float:
    key = ("gateway_function_invocation_total", (("code", "200"), ("function_name", f"{name}.openfaas-fn")))
    return samples(url).get(key, 0)


@pytest.mark.skipif(not CRON_CONNECTOR.is_file(), reason=f"cron-connector not found at {CRON_CONNECTOR}")
def test_a_deployed_schedule_annotation_reaches_the_real_cron_connector(runtime, url, auth, tmp_path):
    env = {"gateway_url": url, "basic_auth": "true", "secret_mount_path": str(runtime.config.secrets_dir),
           "rebuild_interval": "1s", "PATH": os.environ["PATH"]}
    deployment = {"service": "worker", "image": "local/echo:test", "envVars": {"exec_timeout": "5s"}}
    scheduled = {**deployment, "annotations": {"topic": "cron-function", "schedule": "@every 2s"}}
    with open(tmp_path / "cron.log", "wb") as log:
        connector = subprocess.Popen([str(CRON_CONNECTOR)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(4)
        before = invocations(url, "worker")
        time.sleep(3)
        assert invocations(url, "worker") == before, "worker fired before it had a schedule"
        assert requests.put(f"{url}/system/functions", json=scheduled, auth=auth, timeout=60).status_code == 202
        wait_for(lambda: invocations(url, "worker") >= before + 2, 30, "two scheduled calls")
        assert "Added: worker.openfaas-fn [@every 2s]" in (tmp_path / "cron.log").read_text()
        assert requests.put(f"{url}/system/functions", json=deployment, auth=auth, timeout=60).status_code == 202
        log = tmp_path / "cron.log"
        wait_for(lambda: "Removed: worker" in log.read_text(), 30, "the connector dropping worker")
        time.sleep(6)  # a call it began before that may still be waiting for the redeployed worker
        settled = invocations(url, "worker")
        time.sleep(5)
        assert invocations(url, "worker") == settled, "worker still fired after its schedule was deployed away"
    finally:
        connector.terminate()
        connector.wait(timeout=10)
