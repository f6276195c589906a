"""The few MLflow REST calls the UI needs, each with a timeout and one named error.

The UI talks to MLflow's public REST API with `requests` instead of the `mlflow`
client: the client retries for minutes when the server is down (the UI must show a
banner within seconds) and importing it would slow the UI's start-up. Every call carries
basic auth: the UI's own MLflow user (which may only read), or, to move an alias, the
credentials the admin typed in (MLflow itself decides whether they may).
"""

from __future__ import annotations

from collections.abc import Callable

import requests

from shared.errors import ServiceUnavailable, Unauthorized, UpstreamError

API = "/api/2.0/mlflow"


class NotFound(UpstreamError):
    """MLflow answered RESOURCE_DOES_NOT_EXIST (no experiment, model or alias yet)."""


class MlflowRest:
    def __init__(self, base_url: str, timeout: float, credentials: Callable[[], tuple[str, str]]):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.credentials = credentials  # read per call: a missing secret shows as a banner, not a crash

    def call(self, method: str, path: str, auth: tuple[str, str] | None = None, **kwargs) -> requests.Response:
        url = f"{self.base_url}{path}"
        try:
            response = requests.request(method, url, timeout=self.timeout, auth=auth or self.credentials(), **kwargs)
        except requests.RequestException as exc:
            raise ServiceUnavailable(
                f"MLflow at {self.base_url} is not reachable ({type(exc).__name__})"
            ) from None
        if response.status_code in (401, 403):
            raise Unauthorized(f"MLflow refused {path} for these credentials ({response.status_code})")
        if response.status_code == 404 or _error_code(response) == "RESOURCE_DOES_NOT_EXIST":
            raise NotFound(f"MLflow has no {path.rsplit('/', 1)[-1]} for this request")
        if response.status_code >= 500:
            raise ServiceUnavailable(f"MLflow at {self.base_url} answered {response.status_code}")
        if response.status_code >= 400:
            raise UpstreamError(f"MLflow refused {path} ({response.status_code}: {_error_message(response)})")
        return response

    def json(self, method: str, path: str, **kwargs) -> dict:
        response = self.call(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError:
            raise UpstreamError(f"MLflow answered {path} with something that is not JSON") from None
        if not isinstance(body, dict):
            raise UpstreamError(f"MLflow answered {path} with an unexpected shape")
        return body

    def experiment_id(self, name: str) -> str | None:
        try:
            body = self.json("GET", f"{API}/experiments/get-by-name", params={"experiment_name": name})
        except NotFound:
            return None
        return body["experiment"]["experiment_id"]

    def search_runs(self, experiment_id: str, max_results: int = 500) -> list[dict]:
        body = self.json(
            "POST", f"{API}/runs/search",
            json={"experiment_ids": [experiment_id], "max_results": max_results,
                  "order_by": ["attributes.start_time DESC"]},
        )
        return body.get("runs", [])

    def registered_model(self, name: str) -> dict | None:
        try:
            return self.json("GET", f"{API}/registered-models/get", params={"name": name})["registered_model"]
        except NotFound:
            return None

    def model_versions(self, name: str) -> list[dict]:
        body = self.json(
            "GET", f"{API}/model-versions/search", params={"filter": f"name='{name}'", "max_results": 500}
        )
        return body.get("model_versions", [])

    def version_by_alias(self, name: str, alias: str) -> dict | None:
        try:
            return self.json("GET", f"{API}/registered-models/alias", params={"name": name, "alias": alias})[
                "model_version"
            ]
        except NotFound:
            return None

    def set_alias(self, name: str, alias: str, version: str, auth: tuple[str, str]) -> None:
        self.call("POST", f"{API}/registered-models/alias", auth=auth,
                  json={"name": name, "alias": alias, "version": version})

    def list_artifacts(self, run_id: str, path: str = "") -> list[dict]:
        params = {"run_id": run_id, **({"path": path} if path else {})}
        return self.json("GET", f"{API}/artifacts/list", params=params).get("files", [])

    def artifact(self, run_id: str, path: str) -> bytes:
        return self.call("GET", "/get-artifact", params={"path": path, "run_uuid": run_id}).content


def _error_code(response: requests.Response) -> str:
    try:
        return str(response.json().get("error_code", ""))
    except (ValueError, AttributeError):
        return ""


def _error_message(response: requests.Response) -> str:
    try:
        return str(response.json().get("message", ""))[:200]
    except (ValueError, AttributeError):
        return response.text[:200]
