"""MLflow's registry, runs, experiments and artifacts through its REST API: one client, one error mapping.

Serving, the UI, fetch-batch's drift report and `make status` use MLflow's public REST API
with `requests` rather than the `mlflow` client: importing it takes seconds, and it retries
for minutes when the server is down where a page must show a banner within seconds. Every
call has the settings' timeout and carries basic auth: this process's MLflow user, read per
call (a missing secret is an error of that call, not a crash at start), or the credentials
a caller gives for one call (the UI's promote). Training logs its runs with mlflow's own
client (`shared/tracking.py`).

    connection failure, HTTP 5xx                     ServiceUnavailable
    401, 403                                         Refused, an UpstreamError: our credentials were refused,
                                                     not our caller's
    404, error_code RESOURCE_DOES_NOT_EXIST          NotFound (an UpstreamError)
    any other 4xx, an answer that is not JSON        UpstreamError

Model files come only through MLflow's artifact proxy (`mlflow-artifacts:/`): predict holds no
MinIO credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

import requests

from shared.errors import PipelineError, ServiceUnavailable, UpstreamError
from shared.settings import Settings

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
MISSING = ("RESOURCE_DOES_NOT_EXIST",)
# MLflow 3.17 answers 400 INVALID_PARAMETER_VALUE for an alias that names no version
ALIAS_MISSING = (*MISSING, "INVALID_PARAMETER_VALUE")


class Refused(UpstreamError):
    """MLflow refused our credentials (401) or this request for them (403)."""

    def __init__(self, message: str, answered: int):
        super().__init__(message)
        self.answered = answered


class NotFound(UpstreamError):
    """MLflow has no such experiment, model, version or alias (yet)."""


class NoChampion(ServiceUnavailable):
    """The registry is reachable but the alias names no model version yet."""


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: str
    run_id: str
    source: str
    tags: dict[str, str]

    @classmethod
    def of(cls, version: dict, name: str) -> VersionInfo:
        """From MLflow's `model_version` object."""
        return cls(
            name=version.get("name", name),
            version=str(version.get("version", "")),
            run_id=version.get("run_id", ""),
            source=version.get("source", ""),
            tags={tag["key"]: tag["value"] for tag in version.get("tags", [])},
        )


def failure(response: requests.Response, route: str, base: str,
            missing: tuple[str, ...] = MISSING) -> PipelineError | None:
    """The error an answer of MLflow means, None for a success; `missing`: error codes meaning 'not found'."""
    code = response.status_code
    if code in (401, 403):
        return Refused(f"MLflow refused {route} for these credentials ({code})", code)
    if code == 404 or (code >= 400 and error_code(response) in missing):
        return NotFound(f"MLflow has no {route.rsplit('/', 1)[-1]} for this request")
    if code >= 500:
        store = " (is MinIO, its artifact store, up?)" if route.startswith(ARTIFACTS) else ""
        return ServiceUnavailable(f"MLflow at {base} answered {code} for {route}{store}")
    if code >= 400:
        return UpstreamError(f"MLflow refused {route} ({code}: {error_message(response)})")
    return None


def error_code(response: requests.Response) -> str:
    try:
        return str(response.json().get("error_code", ""))
    except (ValueError, AttributeError):
        return ""


def error_message(response: requests.Response) -> str:
    try:
        return str(response.json().get("message", ""))[:200]
    except (ValueError, AttributeError):
        return response.text[:200]


def proxied_path(artifact_uri: str) -> str:
    """The artifact's path behind MLflow's proxy; anything else is refused: predict holds no MinIO credentials."""
    location = urlparse(artifact_uri)
    if location.scheme != "mlflow-artifacts":
        raise UpstreamError(f"model artifacts at {artifact_uri!r}: only mlflow-artifacts:/ (MLflow's proxy) is supported")
    return location.path.strip("/")


def _anonymous(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request  # as requests' `auth`: send no credentials


class Registry:
    """MLflow's REST API, each call with a timeout and the one error mapping above."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.base = settings.mlflow_tracking_uri.rstrip("/")
        self.http = requests.Session()

    # --- transport --------------------------------------------------------------------------
    def call(self, method: str, route: str, auth: tuple[str, str] | Callable | None = None,
             missing: tuple[str, ...] = MISSING, **kwargs) -> requests.Response:
        try:
            response = self.http.request(method, f"{self.base}{route}", auth=auth or self.settings.mlflow_credentials,
                                         timeout=self.settings.http_timeout, **kwargs)
        except requests.RequestException as exc:
            raise ServiceUnavailable(f"MLflow at {self.base} is not reachable ({type(exc).__name__})") from None
        error = failure(response, route, self.base, missing)
        if error is not None:
            raise error
        return response

    def json(self, method: str, route: str, **kwargs) -> dict:
        response = self.call(method, route, **kwargs)
        try:
            body = response.json()
        except ValueError:
            raise UpstreamError(f"MLflow answered {route} with something that is not JSON") from None
        if not isinstance(body, dict):
            raise UpstreamError(f"MLflow answered {route} with an unexpected shape")
        return body

    def health(self) -> None:
        """MLflow's /health, which takes no credentials: it tells an MLflow that is up from one that is not."""
        self.call("GET", "/health", auth=_anonymous)

    # --- aliases and versions ---------------------------------------------------------------
    def version_by_alias(self, name: str, alias: str) -> dict | None:
        """MLflow's `model_version` the alias names; None if the model, the alias or its version is missing."""
        try:
            body = self.json("GET", f"{API}/registered-models/alias", params={"name": name, "alias": alias},
                             missing=ALIAS_MISSING)
        except NotFound:
            return None
        return body.get("model_version", {})

    def resolve(self, name: str, alias: str) -> VersionInfo:
        """The version the alias names; NoChampion while there is none."""
        try:
            found = self.version_by_alias(name, alias)
        except Refused as exc:
            if exc.answered != 403:
                raise
            # MLflow's auth answers 403 for a model not registered yet: it cannot tell missing from forbidden
            raise NoChampion(f"no champion yet: {name!r} is not registered, "
                             "or this process's MLflow user may not read it") from None
        if found is None:
            raise NoChampion(f"no champion yet: training has not registered a version of {name!r} with alias {alias!r}")
        return VersionInfo.of(found, name)

    def version(self, name: str, version: str) -> VersionInfo:
        body = self.json("GET", f"{API}/model-versions/get", params={"name": name, "version": version})
        return VersionInfo.of(body.get("model_version", {}), name)

    def registered_model(self, name: str) -> dict | None:
        try:
            return self.json("GET", f"{API}/registered-models/get", params={"name": name})["registered_model"]
        except NotFound:
            return None

    def model_versions(self, name: str) -> list[dict]:
        params = {"filter": f"name='{name}'", "max_results": 500}
        return self.json("GET", f"{API}/model-versions/search", params=params).get("model_versions", [])

    def set_alias(self, name: str, alias: str, version: str, auth: tuple[str, str]) -> None:
        self.call("POST", f"{API}/registered-models/alias", auth=auth,
                  json={"name": name, "alias": alias, "version": version})

    # --- experiments and runs ---------------------------------------------------------------
    def experiment_id(self, name: str) -> str | None:
        try:
            body = self.json("GET", f"{API}/experiments/get-by-name", params={"experiment_name": name})
        except NotFound:
            return None
        return body["experiment"]["experiment_id"]

    def search_runs(self, experiment_id: str, max_results: int = 500) -> list[dict]:
        body = self.json("POST", f"{API}/runs/search", json={
            "experiment_ids": [experiment_id], "max_results": max_results, "order_by": ["attributes.start_time DESC"],
        })
        return body.get("runs", [])

    def run_params(self, run_id: str) -> dict[str, str]:
        """The parameters of a run (a version's training batches among them)."""
        run = self.json("GET", f"{API}/runs/get", params={"run_id": run_id}).get("run", {})
        return {param["key"]: param["value"] for param in run.get("data", {}).get("params", [])}

    # --- artifacts --------------------------------------------------------------------------
    def artifact_uri(self, info: VersionInfo) -> str:
        params = {"name": info.name, "version": info.version}
        return self.json("GET", f"{API}/model-versions/get-download-uri", params=params)["artifact_uri"].rstrip("/")

    def fetch(self, artifact_uri: str, filename: str) -> bytes:
        return self.call("GET", f"{ARTIFACTS}/{proxied_path(artifact_uri)}/{filename}").content

    def check_artifacts(self, artifact_uri: str) -> None:
        """Raise if the artifact store behind MLflow's proxy does not answer."""
        self.call("GET", ARTIFACTS, params={"path": proxied_path(artifact_uri)})

    def list_artifacts(self, run_id: str, path: str = "") -> list[dict]:
        params = {"run_id": run_id, **({"path": path} if path else {})}
        return self.json("GET", f"{API}/artifacts/list", params=params).get("files", [])

    def artifact(self, run_id: str, path: str) -> bytes:
        """One file a run logged, as MLflow's server reads it from the artifact store."""
        return self.call("GET", "/get-artifact", params={"path": path, "run_uuid": run_id}).content
