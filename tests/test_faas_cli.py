"""The real faas-cli against the local gateway: what a user drives the system with.

Two stacks of gateway and functions (no databases): the runtime tests' echo functions
(tests/fixtures/stack.yml), whose answers show what faas-cli sent, and the project's own
stack.yml, against which `faas-cli diff` must find nothing to change.
"""

from __future__ import annotations

import json

import pytest

from shared.settings.stack import ROOT
from tests.faas_cli_support import FaasCli
from tests.pipeline_support import wait_for
from tests.runtime_support import CallbackReceiver, runtime_stack

pytestmark = pytest.mark.services


def credentials(stack) -> tuple[str, str]:
    return stack.config.secret("basic-auth-user"), stack.config.secret("basic-auth-password")


@pytest.fixture(scope="module")
def echo_stack(tmp_path_factory):
    with runtime_stack(tmp_path_factory.mktemp("echo-stack")) as stack:
        yield stack


@pytest.fixture
def cli(echo_stack, tmp_path) -> FaasCli:
    cli = FaasCli(echo_stack.config.url("gateway"), tmp_path / "openfaas")
    cli.login(*credentials(echo_stack))
    return cli


def test_login_with_password_stdin_keeps_the_credentials_in_openfaas_config(echo_stack, tmp_path):
    cli = FaasCli(echo_stack.config.url("gateway"), tmp_path / "openfaas")
    user, password = credentials(echo_stack)
    result = cli.login(user, password)
    assert f"credentials saved for {user} {echo_stack.config.url('gateway')}" in result.stdout
    assert (tmp_path / "openfaas" / "config.yml").is_file()
    refused = cli("login", "--username", user, "--password-stdin", input="not-the-password", check=False)
    assert refused.returncode != 0
    assert "incorrect" in refused.stderr + refused.stdout


def test_list_shows_every_function_with_its_image_and_invocations(cli):
    cli("invoke", "worker", input="")
    rows = [line.split() for line in cli("list", "-v").stdout.splitlines()]
    assert rows[0][:3] == ["Function", "Image", "Invocations"]
    by_name = {row[0]: row for row in rows[1:] if row}
    assert set(by_name) == {"echo", "worker", "absent"}
    assert by_name["echo"][1] == "local/echo:test"
    assert int(by_name["worker"][2]) >= 1


def test_describe_shows_environment_labels_annotations_and_secrets(cli):
    out = cli("describe", "echo").stdout
    assert "Name:               echo" in out
    assert "Status:             Ready" in out
    assert "Image:              local/echo:test" in out
    assert f"URL:                {cli.gateway}/function/echo" in out
    assert " ECHO_GREETING: hello from stack.yml" in out
    assert " team: tests" in out
    assert " - basic-auth-user" in out


def test_invoke_sends_body_headers_query_and_content_type(cli):
    result = cli("invoke", "echo", "--header", "X-Trace: t-1", "--query", "a=1", "--content-type", "text/csv",
                 "--method", "PUT", input="x,y\n1,2\n")
    echoed = json.loads(result.stdout)
    assert echoed["body"] == "x,y\n1,2\n"
    assert echoed["method"] == "PUT"
    assert echoed["query"] == {"a": ["1"]}
    assert echoed["headers"]["X-Trace"] == "t-1"
    assert echoed["headers"]["Content-Type"] == "text/csv"
    assert echoed["greeting"] == "hello from stack.yml"


def test_invoke_of_an_unknown_function_fails_with_404(cli):
    missing = cli("invoke", "nowhere", input="", check=False)
    assert missing.returncode != 0
    assert "404" in missing.stderr + missing.stdout


def test_invoke_async_delivers_the_answer_to_the_callback(cli):
    with CallbackReceiver() as receiver:
        result = cli("invoke", "echo", "--async", "--header", f"X-Callback-Url: {receiver.url}",
                     "--header", "X-Trace: async-1", input="queued body")
        assert result.stderr.strip() == "Function submitted asynchronously."
        wait_for(lambda: receiver.calls, 30, "the async call's callback")
    callback = receiver.calls[0]
    assert callback.headers["X-Function-Name"] == "echo"
    assert callback.headers["X-Function-Status"] == "200"
    echoed = callback.json()
    assert echoed["body"] == "queued body"
    assert echoed["headers"]["X-Trace"] == "async-1"
    assert echoed["headers"]["User-Agent"].startswith("faas-cli/0.18.12")


def test_namespace_list_names_openfaas_fn(cli):
    assert cli("namespace", "list").stdout.split() == ["Namespaces:", "-", "openfaas-fn"]


def test_ready_waits_for_a_running_function_and_gives_up_on_one_that_is_not(cli):
    assert "Function echo is ready" in cli("ready", "echo").stdout
    absent = cli("ready", "absent", "--attempts", "2", "--interval", "1s", check=False)
    assert absent.returncode != 0
    assert "Function absent not ready" in absent.stdout


def test_version_names_cli_gateway_and_provider(cli):
    out = cli("version", "--warn-update=false").stdout
    assert "commit:  c8191b71" in out and "version: 0.18.12" in out
    assert f"uri:     {cli.gateway}" in out
    assert "name:          covertype-local-runtime" in out


def test_diff_finds_no_drift_on_the_unchanged_project_stack(tmp_path):
    with runtime_stack(tmp_path / "state", ROOT / "stack.yml") as stack:
        cli = FaasCli(stack.config.url("gateway"), tmp_path / "openfaas", env=stack.config.service_env())
        cli.login(*credentials(stack))
        result = cli("diff", "-f", "stack.yml")
        changed = cli("diff", "-f", "stack.yml", env={"MODEL_POLL_SECONDS": "99"}, check=False)
    assert "YAML matches deployment, no differences found." in result.stdout
    assert changed.returncode != 0
    assert "env.MODEL_POLL_SECONDS" in changed.stdout and "99" in changed.stdout
