"""The real faas-cli drives the gateway's admin API: logs, secrets, deploy, remove, namespace.

Against a gateway + functions stack of its own (tests/fixtures/stack.yml), through
tests/faas_cli_support.py (the CLI's config in a temporary OPENFAAS_CONFIG, OPENFAAS_URL
set to that gateway).
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import time
import uuid

import pytest
import requests

from tests.faas_cli_support import FAAS_CLI, FaasCli
from tests.runtime_support import TEST_STACK_FILE, runtime_stack

pytestmark = pytest.mark.skipif(not FAAS_CLI.exists(), reason=f"{FAAS_CLI} is missing: run `make setup`")


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    with runtime_stack(tmp_path_factory.mktemp("cli-admin")) as started:
        yield started


@pytest.fixture(scope="module")
def cli(runtime, tmp_path_factory) -> FaasCli:
    faas = FaasCli(runtime.config.url("gateway"), tmp_path_factory.mktemp("openfaas-config"),
                   runtime.config.service_env())
    faas.login(runtime.config.secret("basic-auth-user"), runtime.config.secret("basic-auth-password"))
    return faas


def call(runtime, path: str) -> requests.Response:
    return requests.get(f"{runtime.config.url('gateway')}/function/{path}", timeout=30)


def log_line(runtime, text: str) -> None:
    assert call(runtime, f"echo/log/{text}").status_code == 200


def marker(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


# --- logs --------------------------------------------------------------------------------
def test_logs_lines_gives_the_last_lines(runtime, cli):
    first, second, third = marker("first"), marker("second"), marker("third")
    for text in (first, second, third):
        log_line(runtime, text)
    out = cli("logs", "echo", "--tail=false", "--lines", "2").stdout
    assert second in out and third in out and first not in out
    assert len(out.strip().splitlines()) == 2


def test_logs_since_leaves_out_older_lines(runtime, cli):
    old, new = marker("old"), marker("new")
    log_line(runtime, old)
    time.sleep(3)
    log_line(runtime, new)
    out = cli("logs", "echo", "--tail=false", "--since", "2s").stdout
    assert new in out and old not in out
    everything = cli("logs", "echo", "--tail=false", "--since", "1h").stdout
    assert old in everything and new in everything


def test_logs_tail_streams_a_line_written_after_it_started(runtime, cli):
    late = marker("late")
    env = {"PATH": os.environ["PATH"], "HOME": str(cli.config_dir), "OPENFAAS_CONFIG": str(cli.config_dir)}
    process = subprocess.Popen([str(FAAS_CLI), "logs", "echo", "--tail=true", "--gateway", cli.gateway],
                               stdout=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        lines.get(timeout=20)  # the history arrived: the stream is open
        log_line(runtime, late)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if late in lines.get(timeout=1):
                    break
            except queue.Empty:
                continue
        else:
            pytest.fail(f"{late} did not arrive through `faas-cli logs --tail=true` within 20 s")
        assert process.poll() is None, "the follow stream ended by itself"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_logs_of_an_unknown_function_fail_naming_it(cli):
    done = cli("logs", "no-such-fn", "--tail=false", check=False)
    assert done.returncode != 0
    assert "no-such-fn" in done.stdout + done.stderr and "404" in done.stdout + done.stderr


# --- secrets -----------------------------------------------------------------------------
def test_secret_create_list_update_remove(runtime, cli):
    name = marker("token")
    cli("secret", "create", name, "--from-literal", "first-value")
    path = runtime.config.secrets_dir / name
    assert path.read_text() == "first-value"
    assert path.stat().st_mode & 0o777 == 0o600
    listed = cli("secret", "list").stdout
    assert name in listed and "first-value" not in listed
    cli("secret", "update", name, "--from-literal", "second-value")
    assert path.read_text() == "second-value"
    cli("secret", "remove", name)
    assert not path.exists()
    assert name not in cli("secret", "list").stdout


def test_a_function_sees_a_changed_secret_after_its_next_deploy(runtime, cli):
    name = marker("echo-secret")
    cli("secret", "create", name, "--from-literal", "before")
    deploy = ("deploy", "-f", str(TEST_STACK_FILE), "--filter", "echo", "--secret", name)
    cli(*deploy)
    assert call(runtime, f"echo/secret/{name}").text == "before"
    cli("secret", "update", name, "--from-literal", "after")
    assert call(runtime, f"echo/secret/{name}").text == "before"
    cli(*deploy)
    assert call(runtime, f"echo/secret/{name}").text == "after"
    cli("deploy", "-f", str(TEST_STACK_FILE), "--filter", "echo")
    assert call(runtime, f"echo/secret/{name}").status_code == 404  # no longer declared


# --- deploy, remove ----------------------------------------------------------------------
def test_deploy_with_a_changed_environment_value_reaches_the_function(runtime, cli):
    greeting = marker("greeting")
    out = cli("deploy", "-f", str(TEST_STACK_FILE), "--filter", "echo", env={"ECHO_GREETING": greeting}).stdout
    assert "Deployed" in out
    answer = cli("invoke", "echo", input="").stdout
    assert greeting in answer
    assert greeting in cli("describe", "echo").stdout
    cli("deploy", "-f", str(TEST_STACK_FILE), "--filter", "echo")
    assert "hello from stack.yml" in cli("invoke", "echo", input="").stdout


def test_remove_then_deploy_brings_the_function_back(runtime, cli):
    cli("remove", "worker")
    assert call(runtime, "worker").status_code == 404
    assert "worker" not in cli("list").stdout
    pid_gone = runtime.ctl("status", "fn-worker").stdout
    assert "RUNNING" not in pid_gone
    cli("deploy", "-f", str(TEST_STACK_FILE), "--filter", "worker")
    assert call(runtime, "worker").status_code == 200
    assert "worker" in cli("list").stdout


def test_remove_of_an_unknown_function_says_so(cli):
    done = cli("remove", "no-such-fn", check=False)
    assert "No existing function to remove" in done.stdout + done.stderr or "404" in done.stdout + done.stderr


# --- namespace ---------------------------------------------------------------------------
def test_namespace_get(cli):
    assert "Name: openfaas-fn" in cli("namespace", "get", "openfaas-fn").stdout
    done = cli("namespace", "get", "elsewhere", check=False)
    assert done.returncode != 0 and "elsewhere" in done.stdout + done.stderr
