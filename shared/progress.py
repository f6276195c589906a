"""Where training stands, as MLflow shows it: runs and versions summarized, the newest training's state.

The UI's pages and `make status` read the same summaries (plain dicts, so a page's test
fake stays trivial); the questions go through `shared/registry.py`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from shared.registry import Registry
from shared.settings import Settings

STATUS_TIMEOUT = 5.0  # how long a status question may take before a page or `make status` says what is down


def status_settings(settings: Settings) -> Settings:
    """The settings with HTTP timeouts short enough for a person waiting on a status."""
    return dataclasses.replace(settings, http_timeout=min(settings.http_timeout, STATUS_TIMEOUT))


def runs(registry: Registry, experiment_name: str) -> list[dict]:
    """The experiment's runs, newest first, summarized; none while the experiment does not exist."""
    experiment_id = registry.experiment_id(experiment_name)
    if experiment_id is None:
        return []
    return [run_summary(run) for run in registry.search_runs(experiment_id)]


def versions(registry: Registry, model_name: str) -> list[dict]:
    """The model's versions, newest first, each with the aliases naming it."""
    model = registry.registered_model(model_name)
    if model is None:
        return []
    aliases: dict[str, list[str]] = {}
    for entry in model.get("aliases", []):
        aliases.setdefault(str(entry["version"]), []).append(entry["alias"])
    found = [version_summary(v, aliases) for v in registry.model_versions(model_name)]
    return sorted(found, key=lambda v: int(v["version"]), reverse=True)


def champion(registry: Registry, model_name: str, alias: str) -> dict | None:
    """The version the alias names, summarized; None while it names none."""
    version = registry.version_by_alias(model_name, alias)
    if version is None:
        return None
    return version_summary(version, {str(version["version"]): [alias]})


def _pairs(entries: list[dict]) -> dict[str, Any]:
    return {entry["key"]: entry.get("value") for entry in entries or []}


def _first(values: Mapping[str, Any], *prefixes: str) -> float | None:
    for prefix in prefixes:
        for key in sorted(values):
            if key.startswith(prefix) and values[key] is not None:
                try:
                    return float(values[key])
                except (TypeError, ValueError):
                    continue
    return None


def run_summary(run: dict) -> dict:
    """One MLflow run as the UI shows it: who, when, state and the four scores."""
    info, data = run.get("info", {}), run.get("data", {})
    metrics, params, tags = _pairs(data.get("metrics")), _pairs(data.get("params")), _pairs(data.get("tags"))
    kind = tags.get("kind", "model")  # training's parent run says "training"
    family = "(whole training)" if kind == "training" else tags.get("family") or params.get("family")
    return {
        "run_id": info.get("run_id", ""),
        "run_name": info.get("run_name") or tags.get("mlflow.runName", ""),
        "training_id": tags.get("training_id", ""),
        "kind": kind,
        "family": family or info.get("run_name", ""),
        "status": info.get("status", ""),
        "start_time": int(info["start_time"]) if info.get("start_time") else None,
        "end_time": int(info["end_time"]) if info.get("end_time") else None,
        "accuracy": _first(metrics, "accuracy"),
        "f1": _first(metrics, "f1_weighted", "f1"),
        "precision": _first(metrics, "precision_weighted", "precision"),
        "recall": _first(metrics, "recall_weighted", "recall"),
        "error": tags.get("error") or tags.get("failure_reason") or "",
    }


def training_state(runs: list[dict], batches_stored: int | None, threshold: int) -> dict:
    """waiting / running / done / failed, for the newest training (runs sharing a training_id)."""
    if not runs:
        stored = "?" if batches_stored is None else batches_stored
        return {"state": "waiting", "reason": f"{stored}/{threshold} batches stored; no training yet",
                "training_id": ""}
    newest = max(runs, key=lambda r: r.get("start_time") or 0)
    group = [r for r in runs if r.get("training_id") == newest.get("training_id")]
    models = [r for r in group if r.get("kind") != "training"]
    statuses = {r.get("status") for r in group}
    base = {"training_id": newest.get("training_id", "")}
    if "RUNNING" in statuses or "SCHEDULED" in statuses:
        finished = sum(r.get("status") == "FINISHED" for r in models)
        return {**base, "state": "running", "reason": f"{finished} model(s) trained so far"}
    failed = [r for r in group if r.get("status") in ("FAILED", "KILLED")]
    if failed:
        reasons = "; ".join(f"{r['family']}: {r.get('error') or r['status'].lower()}" for r in failed)
        return {**base, "state": "failed", "reason": reasons}
    return {**base, "state": "done", "reason": f"{len(models)} model(s) trained"}


def version_summary(version: dict, aliases: Mapping[str, list[str]]) -> dict:
    tags = _pairs(version.get("tags"))
    number = str(version.get("version", ""))
    return {
        "version": number,
        "aliases": sorted(set(version.get("aliases") or []) | set(aliases.get(number, []))),
        "family": tags.get("family", ""),
        "accuracy": _first(tags, "accuracy"),
        "f1": _first(tags, "f1_weighted", "f1"),
        "training_id": tags.get("training_id", ""),
        "run_id": version.get("run_id", ""),
        "created": int(version["creation_timestamp"]) if version.get("creation_timestamp") else None,
        "updated": int(version["last_updated_timestamp"]) if version.get("last_updated_timestamp") else None,
        "status": version.get("status", ""),
    }
