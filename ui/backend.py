"""Everything the UI asks the pipeline, one method per question, each with a timeout.

Pages only talk to a `Backend`; tests swap in a small fake with the same methods.
Every failure surfaces as a `PipelineError` whose message names the service, so a
page can show it in a banner and carry on. Plain dicts keep fakes trivial.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlparse

import requests

from shared import progress
from shared.batches import list_batches
from shared.errors import BadRequest, ConfigError, PipelineError, ServiceUnavailable, Unauthorized, UpstreamError
from shared.health import CHECKS
from shared.registry import NotFound, Refused, Registry
from shared.schedule import TOPIC, next_firing
from shared.settings import Settings
from shared.settings.ui import load_ui_settings

IMPORTANCE_ARTIFACT = "permutation_importance.json"  # as shared/tracking.py logs it (mlflow not imported here)

class BackendApi(Protocol):
    batch_threshold: int
    model_alias: str

    def health(self) -> dict[str, str | None]: ...
    def batches(self) -> list[dict]: ...
    def runs(self) -> list[dict]: ...
    def training_state(self, batches_stored: int | None) -> dict: ...
    def versions(self) -> list[dict]: ...
    def champion(self) -> dict | None: ...
    def confusion_matrix(self, run_id: str) -> bytes | None: ...
    def quality_reports(self) -> list[dict]: ...
    def importance(self, run_id: str) -> dict | None: ...
    def operations(self) -> dict[str, dict[str, list[tuple[float, float]]]]: ...
    def functions(self) -> list[dict]: ...
    def function_logs(self, name: str, tail: int) -> list[dict]: ...
    def predict(self, record: Mapping[str, Any]) -> dict: ...
    def predict_csv(self, text: str) -> dict: ...
    def promote(self, version: str, user: str, password: str) -> None: ...


# PromQL over the OpenFaaS gateway's metrics, per function, for the Operations page
RATE_WINDOW = "1m"
OPERATIONS_QUERIES = {
    "calls": f"sum by (function_name) (rate(gateway_function_invocation_total[{RATE_WINDOW}]))",
    "errors": (f'sum by (function_name) (rate(gateway_function_invocation_total{{code=~"5.."}}[{RATE_WINDOW}]))'
               f" / sum by (function_name) (rate(gateway_function_invocation_total[{RATE_WINDOW}]))"),
    "p50": f"histogram_quantile(0.5, sum by (function_name, le) (rate(gateway_functions_seconds_bucket[{RATE_WINDOW}])))",
    "p99": f"histogram_quantile(0.99, sum by (function_name, le) (rate(gateway_functions_seconds_bucket[{RATE_WINDOW}])))",
}
OPERATIONS_HOURS = 1.0
OPERATIONS_STEP = 15  # seconds between two points of a chart


class Backend:
    """The real pipeline: MinIO and MLflow for status, the gateway for predictions."""

    def __init__(self, settings: Settings, gateway: str, prometheus: str | None = None):
        self.settings = settings
        self.gateway = gateway.rstrip("/")
        self.prometheus = (prometheus or load_ui_settings().prometheus_url).rstrip("/")
        self.status_settings = progress.status_settings(settings)
        self.mlflow = Registry(self.status_settings)
        self.batch_threshold = settings.batch_threshold
        self.model_alias = settings.model_alias

    # --- services ---------------------------------------------------------------------
    def health(self) -> dict[str, str | None]:
        """Service name -> None when healthy, else one line saying what is wrong."""
        checks = {**CHECKS, "gateway": self._check_gateway}
        if _is_loopback(self.settings.data_api_url):  # the course's API is only fetch-batch's business
            checks["data-api"] = self._check_data_api
        with ThreadPoolExecutor(max_workers=len(checks)) as pool:
            futures = {name: pool.submit(_problem, check, self.status_settings) for name, check in checks.items()}
            return {name: future.result() for name, future in futures.items()}

    def _check_gateway(self, settings: Settings) -> None:
        _get_ok("gateway", f"{self.gateway}/healthz", settings.http_timeout)

    def _check_data_api(self, settings: Settings) -> None:
        _get_ok("Data API", f"{settings.data_api_url}/", settings.http_timeout)

    # --- batches ----------------------------------------------------------------------
    def batches(self) -> list[dict]:
        found = list_batches(self.status_settings, self.settings.group_number)  # MinIO errors: ServiceUnavailable
        return sorted((batch_summary(batch) for batch in found), key=lambda b: b["number"] or 0)

    def quality_reports(self) -> list[dict]:
        """The data-quality report of each stored batch that has one (shared/quality.py), by batch."""
        from shared import quality  # here, not at the top: it imports scipy, which the UI's start can do without

        group = self.settings.group_number
        found = (quality.load(self.status_settings, group, info.batch_number)
                 for info in list_batches(self.status_settings, group))
        return [report for report in found if report is not None]

    # --- MLflow: runs and training state ----------------------------------------------
    def runs(self) -> list[dict]:
        return progress.runs(self.mlflow, self.settings.experiment_name)

    def training_state(self, batches_stored: int | None) -> dict:
        return progress.training_state(self.runs(), batches_stored, self.batch_threshold)

    def confusion_matrix(self, run_id: str) -> bytes | None:
        pngs = [f["path"] for f in self.mlflow.list_artifacts(run_id) if f.get("path", "").endswith(".png")]
        if not pngs:
            return None
        pngs.sort(key=lambda path: "confusion" not in path)
        return self.mlflow.artifact(run_id, pngs[0])

    def importance(self, run_id: str) -> dict | None:
        """The run's permutation importance (feature -> mean, std), None if it logged none."""
        if not any(f.get("path") == IMPORTANCE_ARTIFACT for f in self.mlflow.list_artifacts(run_id)):
            return None
        try:
            return json.loads(self.mlflow.artifact(run_id, IMPORTANCE_ARTIFACT))
        except ValueError:
            raise UpstreamError(f"MLflow served a {IMPORTANCE_ARTIFACT} of run {run_id} that is not JSON") from None

    # --- MLflow: registry ---------------------------------------------------------------
    def versions(self) -> list[dict]:
        return progress.versions(self.mlflow, self.settings.model_name)

    def champion(self) -> dict | None:
        return progress.champion(self.mlflow, self.settings.model_name, self.model_alias)

    def promote(self, version: str, user: str, password: str) -> None:
        """Point the champion alias at a version with the credentials given: MLflow lets only the stack's
        admin (the gateway's basic-auth user) and train-model move it; the UI's own user cannot."""
        if not (user and password):
            raise Unauthorized("give the admin user and password (the gateway's basic-auth credentials)")
        try:
            self.mlflow.set_alias(self.settings.model_name, self.model_alias, str(version), auth=(user, password))
        except Refused:
            raise Unauthorized("wrong admin user or password (the gateway's basic-auth credentials)") from None
        except NotFound:
            raise BadRequest(f"version {version} of {self.settings.model_name} does not exist") from None

    # --- operations: Prometheus and the gateway's /system API -----------------------------
    def operations(self) -> dict[str, dict[str, list[tuple[float, float]]]]:
        """Query name (OPERATIONS_QUERIES) -> function -> [(unix seconds, value)] over the last hour."""
        end = time.time()
        start = end - OPERATIONS_HOURS * 3600
        return {name: self._query_range(query, start, end) for name, query in OPERATIONS_QUERIES.items()}

    def _query_range(self, query: str, start: float, end: float) -> dict[str, list[tuple[float, float]]]:
        params = {"query": query, "start": start, "end": end, "step": OPERATIONS_STEP}
        url = f"{self.prometheus}/api/v1/query_range"
        try:
            response = requests.get(url, params=params, timeout=self.status_settings.http_timeout)
        except requests.RequestException as exc:
            raise ServiceUnavailable(f"Prometheus at {self.prometheus} is not reachable ({type(exc).__name__})") from None
        body = _json_or_none(response)
        if response.status_code != 200 or not isinstance(body, dict) or body.get("status") != "success":
            raise UpstreamError(f"Prometheus answered {response.status_code}: {(body or {}).get('error', '')}")
        return {function_of(series["metric"]): [(float(t), float(v)) for t, v in series["values"] if v != "NaN"]
                for series in body["data"]["result"]}

    def functions(self) -> list[dict]:
        """The gateway's functions (faas-provider's FunctionStatus), each with its next cron firing if scheduled."""
        found = self._system("/system/functions").json()
        return sorted((with_schedule(fn) for fn in found), key=lambda fn: fn.get("name", ""))

    def function_logs(self, name: str, tail: int) -> list[dict]:
        """The function's last `tail` log lines: {name, namespace, instance, timestamp, text}."""
        response = self._system("/system/logs", {"name": name, "tail": tail})
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]

    def _system(self, path: str, params: dict | None = None) -> requests.Response:
        auth = (self.settings.secret("basic-auth-user"), self.settings.secret("basic-auth-password"))
        url = f"{self.gateway}{path}"
        try:
            response = requests.get(url, params=params, auth=auth, timeout=self.status_settings.http_timeout)
        except requests.RequestException as exc:
            raise ServiceUnavailable(f"gateway at {self.gateway} is not reachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise UpstreamError(f"gateway answered {response.status_code} for {path}: {response.text[:200]}")
        return response

    # --- predictions through the gateway ------------------------------------------------
    def predict(self, record: Mapping[str, Any]) -> dict:
        return self._post_predict(json={"instances": [dict(record)]})

    def predict_csv(self, text: str) -> dict:
        return self._post_predict(data=text.encode(), headers={"Content-Type": "text/csv"})

    def _post_predict(self, **kwargs) -> dict:
        url = f"{self.gateway}/function/predict"
        try:
            response = requests.post(url, timeout=self.settings.http_timeout, **kwargs)
        except requests.RequestException as exc:
            raise ServiceUnavailable(f"gateway at {self.gateway} is not reachable ({type(exc).__name__})") from None
        body = _json_or_none(response)
        message = (body or {}).get("error") or response.text[:200]
        if 400 <= response.status_code < 500:
            raise BadRequest(f"predict refused the input: {message}", details=(body or {}).get("details"))
        if response.status_code in (502, 503, 504):
            raise ServiceUnavailable(f"predict is unavailable ({response.status_code}): {message}")
        if response.status_code != 200 or not isinstance(body, dict) or "predictions" not in body:
            raise UpstreamError(f"predict answered {response.status_code} without predictions")
        return body


# --- pure helpers (tested directly) ------------------------------------------------------
def _problem(check, settings: Settings) -> str | None:
    try:
        check(settings)
    except PipelineError as exc:
        return exc.message
    return None


def _get_ok(name: str, url: str, timeout: float) -> None:
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise ServiceUnavailable(f"{name} at {url} is not reachable ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise ServiceUnavailable(f"{name} at {url} answered {response.status_code}")


def _is_loopback(url: str) -> bool:
    return urlparse(url).hostname in ("127.0.0.1", "localhost", "::1")


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def function_of(labels: Mapping[str, str]) -> str:
    """A series' function, without the namespace OpenFaaS's gateway appends (`predict.openfaas-fn`)."""
    return labels.get("function_name", "?").split(".", 1)[0]


def with_schedule(function: dict) -> dict:
    """The function, plus `schedule` and `next_firing` (ISO, UTC) when it is a cron-function."""
    annotations = function.get("annotations") or {}
    if annotations.get("topic") != TOPIC or not annotations.get("schedule"):
        return function
    try:
        upcoming = next_firing(annotations["schedule"], datetime.now(UTC))
    except ConfigError as exc:
        return {**function, "schedule": annotations["schedule"], "next_firing": exc.message}
    if upcoming is None:  # @every: counted from cron-connector's start
        return {**function, "schedule": annotations["schedule"], "next_firing": "within one interval"}
    upcoming = upcoming.isoformat(timespec="seconds")
    return {**function, "schedule": annotations["schedule"], "next_firing": upcoming}


def batch_summary(info: Any) -> dict:
    """A stored batch (shared.batches.BatchInfo) as the pipeline page shows it."""
    found = dataclasses.asdict(info) if dataclasses.is_dataclass(info) and not isinstance(info, type) else dict(info)
    return {
        "number": found.get("batch_number", found.get("number")),
        "key": found.get("key", ""),
        "rows": found.get("rows"),
        "fetched_at": found.get("fetched_at", ""),
        "source": found.get("source", ""),
    }
