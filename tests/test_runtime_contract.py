"""The python3-http contract, as the project's template serves it (template/python3-http-debian/index.py).

Every field of the event and every form of the returned dict, through the real Flask app
with its test client; one handler here records what it was given and answers what the
test asks for.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types

import pytest

from shared.settings.stack import ROOT

INDEX = ROOT / "template" / "python3-http-debian" / "index.py"


@pytest.fixture(scope="module")
def index():
    spec = importlib.util.spec_from_file_location("python3_http_index", INDEX)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Recorder:
    """A handler: remembers the last event and context, returns `self.result` (or raises it)."""

    def __init__(self):
        self.event = None
        self.context = None
        self.result = {"statusCode": 200, "body": "ok"}

    def handle(self, event, context):
        self.event, self.context = event, context
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.fixture
def handler():
    return Recorder()


@pytest.fixture
def client(index, handler, monkeypatch):
    monkeypatch.setenv("HOSTNAME", "predict")
    return index.create_app(handler).test_client()


def test_event_carries_body_headers_method_query_and_path(client, handler):
    client.put("/models/42?a=1&a=2&b=x%20y", data=b"\x00raw bytes\xff", headers={"X-Trace": "t-1"})
    event = handler.event
    assert event.body == b"\x00raw bytes\xff"
    assert isinstance(event.body, bytes)
    assert event.headers["X-Trace"] == "t-1"
    assert event.headers["x-trace"] == "t-1"  # case-insensitive, as werkzeug's headers are
    assert event.method == "PUT"
    assert event.query.getlist("a") == ["1", "2"]
    assert event.query["b"] == "x y"
    assert event.path == "/models/42"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_every_method_reaches_the_handler(client, handler, method):
    assert client.open("/", method=method).status_code == 200
    assert handler.event.method == method
    assert handler.event.path == "/"


def test_empty_body_is_empty_bytes(client, handler):
    client.get("/")
    assert handler.event.body == b""


def test_context_hostname_comes_from_the_environment(client, handler):
    client.get("/")
    assert handler.context.hostname == "predict"


RETURN_FORMS = [
    # (returned dict, status, body bytes, content-type prefix)
    ({"statusCode": 201, "body": {"a": 1, "b": [1, 2]}}, 201, b'{"a": 1, "b": [1, 2]}', "application/json"),
    ({"statusCode": 200, "body": [1, "two"]}, 200, b'[1, "two"]', "application/json"),
    ({"statusCode": 202, "body": "plain text"}, 202, b"plain text", "text/html"),
    ({"statusCode": 200, "body": b"\x89PNG\x00"}, 200, b"\x89PNG\x00", "text/html"),
    ({"body": "no status given"}, 200, b"no status given", "text/html"),
    ({"statusCode": 204}, 204, b"", None),
    ({"statusCode": 200, "body": 12.5}, 200, b"12.5", "text/html"),
    (None, 200, b"", None),
]


@pytest.mark.parametrize(("result", "status", "body", "content_type"), RETURN_FORMS)
def test_each_form_of_the_returned_dict(client, handler, result, status, body, content_type):
    handler.result = result
    response = client.post("/")
    assert response.status_code == status
    assert response.data == body
    if content_type:
        assert response.headers["Content-Type"].startswith(content_type)


def test_returned_headers_are_sent_and_override_the_content_type(client, handler):
    handler.result = {
        "statusCode": 200,
        "body": "a,b\n1,2\n",
        "headers": {"Content-Type": "text/csv", "X-Model-Version": "7", "Cache-Control": "no-store"},
    }
    response = client.get("/")
    assert response.headers["Content-Type"] == "text/csv"
    assert response.headers["X-Model-Version"] == "7"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.data == b"a,b\n1,2\n"


def test_json_body_with_explicit_content_type_keeps_it(client, handler):
    handler.result = {"body": {"ok": True}, "headers": {"Content-Type": "application/problem+json"}}
    response = client.get("/")
    assert response.headers["Content-Type"] == "application/problem+json"
    assert json.loads(response.data) == {"ok": True}


def test_a_handler_exception_is_a_short_500_without_traceback(client, handler):
    handler.result = RuntimeError("password=hunter2 in a secret detail")
    response = client.post("/", data=b"{}")
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/json"
    message = response.get_json()
    assert message == {"error": "the function failed (RuntimeError); see its log"}
    assert b"hunter2" not in response.data and b"Traceback" not in response.data


def test_a_result_that_is_not_a_dict_is_a_500_naming_the_contract(client, handler):
    handler.result = "just a string"
    response = client.get("/")
    assert response.status_code == 500
    assert "TypeError" in response.get_json()["error"]


def test_load_handler_imports_the_folder_as_the_function_package(index, tmp_path):
    (tmp_path / "helper.py").write_text("ANSWER = 42\n")
    (tmp_path / "handler.py").write_text(
        "from .helper import ANSWER\n"
        "def handle(event, context):\n"
        "    return {'body': {'answer': ANSWER}}\n"
    )
    try:
        module = index.load_handler(tmp_path)
        assert module.__name__ == "function.handler"
        response = index.create_app(module).test_client().get("/")
        assert response.get_json() == {"answer": 42}
    finally:
        for name in ("function", "function.handler", "function.helper"):
            sys.modules.pop(name, None)


def test_the_module_has_no_side_effects_at_import(index):
    assert isinstance(index, types.ModuleType)
    assert "function" not in vars(index)  # nothing loaded or served until main() runs
