"""The MLflow client's error mapping and alias look-ups, against a fake transport: no MLflow."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from requests.adapters import BaseAdapter

from shared.errors import ServiceUnavailable, UpstreamError
from shared.registry import ARTIFACTS, NoChampion, NotFound, Refused, Registry
from shared.settings import load_settings

BASE = "http://mlflow.test"


class FakeTransport(BaseAdapter):
    """Answers every request with one status and body, and keeps the requests it saw."""

    def __init__(self, status: int = 200, body: object = None, fail: type[Exception] | None = None):
        super().__init__()
        self.status, self.body, self.fail = status, body, fail
        self.seen: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.seen.append(request)
        if self.fail:
            raise self.fail("no route to the fake")
        response = requests.Response()
        response.status_code = self.status
        response._content = self.body if isinstance(self.body, bytes) else json.dumps(self.body or {}).encode()
        response.url = request.url
        response.request = request
        return response

    def close(self):
        pass


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def registry_with(transport: FakeTransport, tmp_path) -> Registry:
    (tmp_path / "basic-auth-user").write_text("admin")
    (tmp_path / "basic-auth-password").write_text("secret")
    registry = Registry(load_settings({"MLFLOW_TRACKING_URI": BASE, "SECRETS_DIR": str(tmp_path)}))
    registry.http.mount(BASE, transport)
    return registry


@pytest.mark.parametrize(
    "status, body, error",
    [
        (401, {}, Refused),
        (403, {"error_code": "PERMISSION_DENIED"}, Refused),
        (404, {}, NotFound),
        (400, {"error_code": "RESOURCE_DOES_NOT_EXIST"}, NotFound),
        (400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "bad"}, UpstreamError),
        (500, {}, ServiceUnavailable),
        (503, b"<html>down</html>", ServiceUnavailable),
    ],
)
def test_each_answer_maps_to_one_error(tmp_path, status, body, error):
    registry = registry_with(FakeTransport(status, body), tmp_path)
    with pytest.raises(error) as raised:
        registry.json("GET", "/api/2.0/mlflow/experiments/get-by-name")
    assert type(raised.value) is error


def test_refused_is_an_upstream_error_so_predict_reports_degraded(tmp_path):
    with pytest.raises(UpstreamError, match=r"refused .* \(401\)") as raised:
        registry_with(FakeTransport(401), tmp_path).version("m", "1")
    assert raised.value.answered == 401 and raised.value.status == 502


def test_unreachable_mlflow_is_named(tmp_path):
    registry = registry_with(FakeTransport(fail=requests.ConnectionError), tmp_path)
    with pytest.raises(ServiceUnavailable, match=rf"^MLflow at {BASE} is not reachable \(ConnectionError\)$"):
        registry.experiment_id("covertype")


def test_an_artifact_store_failure_names_minio(tmp_path):
    registry = registry_with(FakeTransport(500), tmp_path)
    with pytest.raises(ServiceUnavailable, match="is MinIO, its artifact store, up"):
        registry.fetch("mlflow-artifacts:/1/abc/artifacts/model", "model.skops")


def test_artifacts_come_only_through_the_proxy(tmp_path):
    transport = FakeTransport(200, b"blob")
    registry = registry_with(transport, tmp_path)
    assert registry.fetch("mlflow-artifacts:/1/abc/artifacts/model/", "model.skops") == b"blob"
    assert transport.seen[0].url == f"{BASE}{ARTIFACTS}/1/abc/artifacts/model/model.skops"
    with pytest.raises(UpstreamError, match="only mlflow-artifacts"):
        registry.fetch("s3://mlflow-artifacts/1/abc/artifacts/model", "model.skops")


def test_calls_carry_the_process_credentials_or_the_ones_given(tmp_path):
    transport = FakeTransport(200, {})
    registry = registry_with(transport, tmp_path)
    registry.set_alias("m", "champion", "2", auth=("someone", "typed"))
    registry.model_versions("m")
    given, own = (request.headers["Authorization"] for request in transport.seen)
    assert given == basic("someone:typed") and own == basic("admin:secret")


@pytest.mark.parametrize(
    "status, body",
    [
        (404, {"error_code": "RESOURCE_DOES_NOT_EXIST"}),
        (400, {"error_code": "RESOURCE_DOES_NOT_EXIST"}),
        (400, {"error_code": "INVALID_PARAMETER_VALUE"}),  # MLflow 3.17: the alias names no version
    ],
)
def test_an_alias_naming_no_version_is_not_found(tmp_path, status, body):
    registry = registry_with(FakeTransport(status, body), tmp_path)
    assert registry.version_by_alias("m", "champion") is None
    with pytest.raises(NoChampion, match="^no champion yet: training has not registered"):
        registry.resolve("m", "champion")


def test_a_forbidden_alias_is_no_champion_yet_and_a_refused_login_is_not(tmp_path):
    # MLflow's auth answers 403 for a model that is not registered yet
    with pytest.raises(NoChampion, match="^no champion yet: 'm' is not registered"):
        registry_with(FakeTransport(403), tmp_path).resolve("m", "champion")
    with pytest.raises(Refused):
        registry_with(FakeTransport(401), tmp_path).resolve("m", "champion")


def test_resolve_reads_the_version_and_its_tags(tmp_path):
    version = {"name": "m", "version": "3", "run_id": "r", "source": "models:/x",
               "tags": [{"key": "family", "value": "gb"}]}
    info = registry_with(FakeTransport(200, {"model_version": version}), tmp_path).resolve("m", "champion")
    assert (info.version, info.run_id, info.tags) == ("3", "r", {"family": "gb"})


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]"])
def test_an_answer_that_is_not_a_json_object_is_an_upstream_error(tmp_path, body):
    with pytest.raises(UpstreamError, match="experiments/get-by-name"):
        registry_with(FakeTransport(200, body), tmp_path).experiment_id("covertype")
