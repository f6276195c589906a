"""The champion model, resolved through MLflow's REST API once per process and kept fresh.

Importing mlflow takes seconds, so serving does without it: the alias is resolved with
one REST call (as predict's own MLflow user, which may only read), the skops file
(`model.skops`) is fetched through MLflow's artifact proxy and loaded by
`shared.model_file` only if it matches the checksum train-model recorded and holds only
trusted types. A refused version is never served: the previous champion keeps serving.

`ChampionHolder.current()` answers from memory. A daemon thread polls the alias every
`MODEL_POLL_SECONDS`; a new version is loaded beside the old one and swapped in with one
reference assignment, so requests in flight finish on the model they started with.
When MLflow or MinIO fails, the cached model keeps serving and the status says degraded.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import requests

from shared.errors import ServiceUnavailable, UpstreamError
from shared.model_file import CHECKSUM_TAG, MODEL_FILE, load_model
from shared.schema import cover_type_name
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.fast_pipeline import FastPipeline

log = logging.getLogger(__name__)
METRIC_TAGS = ("accuracy", "f1_weighted")
RETRY_AFTER_FAILURE = 1.0  # seconds a request waits before trying the registry again when nothing is cached


class NoChampion(ServiceUnavailable):
    """The registry is reachable but the alias names no model version yet."""


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: str
    run_id: str
    source: str
    tags: dict[str, str]


@dataclass(frozen=True)
class Champion:
    info: VersionInfo
    pipeline: object
    classes: list
    labels: list[str]
    loaded_at: str
    has_proba: bool
    fast: FastPipeline | None = None  # the numpy-only path through the pipeline, when it has one

    def describe(self) -> dict:
        tags = self.info.tags
        return {
            "name": self.info.name,
            "version": self.info.version,
            "run_id": self.info.run_id,
            "family": tags.get("family", "unknown"),
        }

    def metrics(self) -> dict:
        return {key: _float_or_none(self.info.tags.get(key)) for key in METRIC_TAGS}


def _float_or_none(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


class Registry:
    """The few MLflow REST calls serving needs, each with a timeout."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.base = settings.mlflow_tracking_uri
        self.http = requests.Session()

    def _get(self, route: str, params: dict | None = None) -> requests.Response:
        try:
            return self.http.get(f"{self.base}{route}", params=params, auth=self.settings.mlflow_credentials,
                                 timeout=self.settings.http_timeout)
        except requests.RequestException as exc:
            raise ServiceUnavailable(
                f"MLflow at {self.base} is not reachable ({type(exc).__name__})"
            ) from None

    def resolve(self, name: str, alias: str) -> VersionInfo:
        response = self._get("/api/2.0/mlflow/registered-models/alias", {"name": name, "alias": alias})
        if response.status_code == 403:  # MLflow's auth answers 403 for a model that does not exist yet
            raise NoChampion(f"no champion yet: {name!r} is not registered, or predict's MLflow user may not read it")
        if response.status_code in (400, 404) and _error_code(response) in (
            "RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"
        ):
            raise NoChampion(
                f"no champion yet: training has not registered a version of {name!r} with alias {alias!r}"
            )
        return _version_info(_json(response, "resolving the alias").get("model_version", {}), name)

    def version(self, name: str, version: str) -> VersionInfo:
        response = self._get("/api/2.0/mlflow/model-versions/get", {"name": name, "version": version})
        return _version_info(_json(response, f"reading version {version}").get("model_version", {}), name)

    def run_params(self, run_id: str) -> dict[str, str]:
        """The parameters of the run that logged a version (its training batches among them)."""
        run = _json(self._get("/api/2.0/mlflow/runs/get", {"run_id": run_id}), "reading the champion's run")
        return {param["key"]: param["value"] for param in run.get("run", {}).get("data", {}).get("params", [])}

    def artifact_uri(self, info: VersionInfo) -> str:
        response = self._get(
            "/api/2.0/mlflow/model-versions/get-download-uri", {"name": info.name, "version": info.version}
        )
        return _json(response, "locating the model's artifacts")["artifact_uri"].rstrip("/")

    def fetch(self, artifact_uri: str, filename: str) -> bytes:
        path = f"{_proxied_path(artifact_uri)}/{filename}"
        response = self._get(f"/api/2.0/mlflow-artifacts/artifacts/{path}")
        if response.status_code != 200:
            raise UpstreamError(f"MLflow could not serve {path} ({response.status_code}): is MinIO up?")
        return response.content

    def check_artifacts(self, artifact_uri: str) -> None:
        """Raise if the artifact store behind MLflow's proxy does not answer."""
        response = self._get("/api/2.0/mlflow-artifacts/artifacts", {"path": _proxied_path(artifact_uri)})
        if response.status_code != 200:
            raise UpstreamError(f"MLflow cannot list the champion's artifacts ({response.status_code})")


def _proxied_path(artifact_uri: str) -> str:
    """Artifacts come only through MLflow's proxy: predict holds no MinIO credentials."""
    location = urlparse(artifact_uri)
    if location.scheme != "mlflow-artifacts":
        raise UpstreamError(f"model artifacts at {artifact_uri!r}: only mlflow-artifacts:/ (MLflow's proxy) is supported")
    return location.path.strip("/")


def _version_info(version: dict, name: str) -> VersionInfo:
    return VersionInfo(
        name=version.get("name", name),
        version=str(version.get("version", "")),
        run_id=version.get("run_id", ""),
        source=version.get("source", ""),
        tags={tag["key"]: tag["value"] for tag in version.get("tags", [])},
    )


def _error_code(response: requests.Response) -> str:
    try:
        return response.json().get("error_code", "")
    except ValueError:
        return ""


def _json(response: requests.Response, doing: str) -> dict:
    if response.status_code != 200:
        raise UpstreamError(f"MLflow answered {response.status_code} when {doing}: {response.text[:200]}")
    try:
        return response.json()
    except ValueError:
        raise UpstreamError(f"MLflow answered non-JSON when {doing}") from None


def load_pipeline(registry: Registry, info: VersionInfo):
    """The version's pipeline, refused (UntrustedModel) unless its file is the one train-model recorded."""
    blob = registry.fetch(registry.artifact_uri(info), MODEL_FILE)
    return load_model(blob, info.tags.get(CHECKSUM_TAG), f"{info.name} v{info.version}")


def load_champion(registry: Registry, info: VersionInfo) -> Champion:
    return champion_of(info, load_pipeline(registry, info))


def champion_of(info: VersionInfo, pipeline) -> Champion:
    from shared.fast_pipeline import FastPipeline  # here, not at the top: the UI and demo need no sklearn

    has_proba = hasattr(pipeline, "predict_proba")
    classes = [c.item() if hasattr(c, "item") else c for c in getattr(pipeline, "classes_", [])]
    return Champion(
        info=info, pipeline=pipeline, classes=classes,
        labels=[cover_type_name(int(c)) if _is_int(c) else str(c) for c in classes],
        loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        has_proba=has_proba,
        fast=FastPipeline.compile(pipeline) if has_proba else None,
    )


def _is_int(value: object) -> bool:
    try:
        return int(value) == value  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


@dataclass
class _State:
    champion: Champion | None = None
    error: str | None = None
    checked_at: float = 0.0
    failed_at: float = field(default=-1e9)


class ChampionHolder:
    """The cached champion of one process, refreshed by a background poller."""

    def __init__(self, settings: Settings, registry: Registry | None = None):
        self.settings = settings
        self.registry = registry or Registry(settings)
        self._state = _State()
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    def current(self) -> Champion:
        champion = self._state.champion
        if champion is not None:
            return champion
        return self._first_load()

    def _first_load(self) -> Champion:
        with self._load_lock:
            if self._state.champion is not None:
                return self._state.champion
            if time.monotonic() - self._state.failed_at < RETRY_AFTER_FAILURE and self._state.error:
                raise self._unavailable()
            self.refresh()
            self._start_poller()
            if self._state.champion is None:
                raise self._unavailable()
            return self._state.champion

    def _unavailable(self) -> ServiceUnavailable:
        message = self._state.error or "no champion loaded"
        return (NoChampion if message.startswith("no champion") else ServiceUnavailable)(message)

    def refresh(self) -> None:
        """Look at the alias once; load and swap in a new version. Never raises for service trouble."""
        state = self._state
        try:
            info = self.registry.resolve(self.settings.model_name, self.settings.model_alias)
            if state.champion is None or info.version != state.champion.info.version:
                state.champion = load_champion(self.registry, info)
            else:
                self.registry.check_artifacts(self.registry.artifact_uri(info))
            state.error = None
        except (ServiceUnavailable, UpstreamError) as exc:
            state.error = exc.message
            state.failed_at = time.monotonic()
        state.checked_at = time.time()

    def status(self) -> dict:
        state = self._state
        if state.champion is None:
            return {"status": "no_champion" if (state.error or "").startswith("no champion") else "unavailable",
                    "error": state.error}
        body = {
            **state.champion.describe(),
            "alias": self.settings.model_alias,
            "metrics": state.champion.metrics(),
            "loaded_at": state.champion.loaded_at,
            "checked_at": datetime.fromtimestamp(state.checked_at, UTC).isoformat(timespec="seconds"),
            "poll_seconds": self.settings.model_poll_seconds,
            "status": "degraded" if state.error else "ok",
        }
        if state.error:
            body["error"] = state.error
        return body

    def _start_poller(self) -> None:
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll, name="champion-poller", daemon=True)
            self._poller.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.settings.model_poll_seconds):
            try:
                self.refresh()
            except Exception as exc:  # a bug must not end the poller silently: log it, report degraded, go on
                log.exception("champion poll failed")
                self._state.error = f"champion poll failed ({type(exc).__name__}); see the function's log"

    def stop(self) -> None:
        self._stop.set()
