"""shared/health.py's MLflow check against a fake transport: each answer becomes one line naming the fix."""

from __future__ import annotations

import pytest
import requests

from shared import health
from shared.errors import ConfigError, ServiceUnavailable
from shared.settings import load_settings
from tests.unit.test_registry import BASE, FakeTransport


def check_with(transport: FakeTransport, monkeypatch, tmp_path) -> None:
    (tmp_path / "basic-auth-user").write_text("admin")
    (tmp_path / "basic-auth-password").write_text("secret")
    monkeypatch.setattr(requests.Session, "get_adapter", lambda session, url: transport)
    health.check_mlflow(load_settings({"MLFLOW_TRACKING_URI": BASE, "SECRETS_DIR": str(tmp_path)}))


def test_a_healthy_mlflow_that_takes_our_credentials_passes(monkeypatch, tmp_path):
    transport = FakeTransport(200, {})
    check_with(transport, monkeypatch, tmp_path)
    assert [request.path_url.split("?")[0] for request in transport.seen] == [
        "/health", "/api/2.0/mlflow/experiments/search"]
    assert [("Authorization" in request.headers) for request in transport.seen] == [False, True]


def test_a_down_mlflow_is_named_before_any_credential_is_needed(monkeypatch, tmp_path):
    monkeypatch.setattr(requests.Session, "get_adapter", lambda session, url: FakeTransport(503))
    with pytest.raises(ServiceUnavailable, match="answered 503 for /health"):
        health.check_mlflow(load_settings({"MLFLOW_TRACKING_URI": BASE, "SECRETS_DIR": str(tmp_path / "none")}))


@pytest.mark.parametrize(
    ("transport", "error", "says"),
    [(FakeTransport(401), ConfigError, "rejected the credentials (401): check the MLflow secrets"),
     (FakeTransport(503), ServiceUnavailable, "answered 503 for /health: start it with `make up`"),
     (FakeTransport(fail=requests.ConnectionError), ServiceUnavailable,
      f"MLflow at {BASE} is not reachable (ConnectionError): start it with `make up` or set MLFLOW_TRACKING_URI"),
     (FakeTransport(404), ServiceUnavailable, "is MLFLOW_TRACKING_URI MLflow's address?")],
)
def test_each_failure_is_one_line_naming_the_fix(monkeypatch, tmp_path, transport, error, says):
    with pytest.raises(error) as raised:
        check_with(transport, monkeypatch, tmp_path)
    assert says in str(raised.value) and "\n" not in str(raised.value)
