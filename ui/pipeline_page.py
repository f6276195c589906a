"""Pipeline: services' health, batches stored, the last fetch, training state, champion."""

from __future__ import annotations

import asyncio
import time

from nicegui import ui

from ui.backend import BackendApi
from ui.charts import class_shares_options, drift_heatmap_options
from ui.widgets import banner, fmt_score, fmt_time, live, load, section

REFRESH_SECONDS = 10.0
STATE_COLORS = {"waiting": "grey", "running": "blue", "done": "positive", "failed": "negative"}
SERVICE_NAMES = {"mysql": "MySQL", "minio": "MinIO", "mlflow": "MLflow", "gateway": "Gateway", "data-api": "Data API"}


async def collect(backend: BackendApi) -> dict:
    """One snapshot of the pipeline; each part is (value, problem)."""
    health, batches, champion, reports = await asyncio.gather(
        load(backend.health), load(backend.batches), load(backend.champion), load(backend.quality_reports)
    )
    stored = None if batches[0] is None else len(batches[0])
    training = await load(lambda: backend.training_state(stored))
    return {"health": health, "batches": batches, "champion": champion, "training": training, "quality": reports}


async def pipeline_page(backend: BackendApi, refresh_seconds: float = REFRESH_SECONDS) -> None:
    ui.label("Pipeline").classes("text-2xl")
    body = ui.column().classes("w-full gap-4")
    await live(body, lambda: collect(backend), lambda snapshot: render(snapshot, backend.batch_threshold), refresh_seconds)


def render(snapshot: dict, threshold: int) -> None:
    problems = [problem for _, problem in snapshot.values() if problem]
    health = snapshot["health"][0] or {}
    problems += [f"{SERVICE_NAMES.get(name, name)} is down: {msg}" for name, msg in health.items() if msg]
    for problem in dict.fromkeys(problems):
        banner(problem)
    services_card(health)
    batches_card(snapshot["batches"][0], threshold)
    with ui.row().classes("w-full gap-4 items-stretch"):
        training_card(snapshot["training"][0])
        champion_card(snapshot["champion"])
    quality_card(snapshot["quality"][0])
    ui.label(f"Updated {fmt_time(time.time() * 1000)}; refreshes by itself.").classes("text-xs text-gray-500")


def services_card(health: dict[str, str | None]) -> None:
    with section("Services"), ui.row().classes("gap-2"):
        if not health:
            ui.label("health unknown")
        for name, problem in health.items():
            color, icon = ("positive", "check_circle") if problem is None else ("negative", "cancel")
            ui.chip(SERVICE_NAMES.get(name, name), icon=icon, color=color, text_color="white").mark(f"service-{name}")


def batches_card(batches: list[dict] | None, threshold: int) -> None:
    with section("Batches"):
        if batches is None:
            ui.label("Batches unavailable (see the banner above).")
            return
        stored = len(batches)
        ui.label(f"{stored}/{threshold} batches stored").mark("batches-count")
        ui.linear_progress(value=min(stored / threshold, 1.0), show_value=False, size="12px")
        if not batches:
            ui.label("No batch yet: fetch-batch stores one every 5 minutes.")
            return
        last = max(batches, key=lambda b: (str(b.get("fetched_at") or ""), b.get("number") or 0))
        ui.label(
            f"Last fetch-batch result: batch {last.get('number')} stored {fmt_time(last.get('fetched_at'))}, "
            f"{last.get('rows')} rows from {last.get('source') or '-'}"
        ).mark("last-fetch")
        rows = [
            {"number": b.get("number"), "fetched_at": fmt_time(b.get("fetched_at")), "rows": b.get("rows"),
             "source": b.get("source") or "-", "key": b.get("key")}
            for b in batches
        ]
        columns = [
            {"name": "number", "label": "Batch", "field": "number", "sortable": True, "align": "left"},
            {"name": "fetched_at", "label": "Fetched", "field": "fetched_at", "sortable": True, "align": "left"},
            {"name": "rows", "label": "Rows", "field": "rows", "sortable": True},
            {"name": "source", "label": "Source", "field": "source", "align": "left"},
            {"name": "key", "label": "Object", "field": "key", "align": "left"},
        ]
        ui.table(columns=columns, rows=rows, row_key="number").props("dense flat").classes("w-full")


def training_card(training: dict | None) -> None:
    with section("Training").classes("flex-1 min-w-64"):
        if training is None:
            ui.label("Training state unavailable (see the banner above).")
            return
        state = training["state"]
        ui.badge(state, color=STATE_COLORS.get(state, "grey")).classes("text-base").mark("training-state")
        ui.label(training.get("reason", ""))
        if training.get("training_id"):
            ui.label(f"training {training['training_id']}").classes("text-xs text-gray-500")


def champion_card(champion: tuple[dict | None, str | None]) -> None:
    value, problem = champion
    with section("Champion").classes("flex-1 min-w-64").mark("champion-card"):
        if problem:
            ui.label("Champion unavailable (see the banner above).")
        elif value is None:
            ui.label("No champion yet: training registers one after the first training.")
        else:
            ui.label(f"{value['family'] or 'model'} · version {value['version']}").classes("text-base font-medium")
            ui.label(f"accuracy {fmt_score(value['accuracy'])} · F1 {fmt_score(value['f1'])}")
            ui.label(f"since {fmt_time(value.get('updated') or value.get('created'))}")


def quality_card(reports: list[dict] | None) -> None:
    with section("Data quality and drift"):
        if reports is None:
            ui.label("Data quality unavailable (see the banner above).")
            return
        if not reports:
            ui.label("No batch has a data-quality report yet: fetch-batch writes one with each batch.")
            return
        flagged = [r for r in reports if r.get("flagged")]
        summary = "; ".join(f"batch {r['batch_number']}: {', '.join(r['flagged_features'])}" for r in flagged)
        ui.label(f"Flagged for drift: {summary}" if flagged else "No batch drifts past its threshold.").mark(
            "quality-flags")
        repeated = sum(r.get("rows_repeated_earlier", 0) for r in reports)
        ui.label(f"{repeated} rows repeat rows of earlier batches; "
                 f"{sum(r.get('rows_repeated_within', 0) for r in reports)} repeat within their batch.")
        ui.label("Drift per batch and feature, divided by its flag threshold (PSI for numeric features, "
                 "Jensen-Shannon distance for the categorical ones and Cover_Type; 1 = flagged)").classes("text-sm")
        ui.echart(drift_heatmap_options(reports)).classes("w-full").style(
            f"height: {220 + 28 * len(reports)}px").mark("drift-heatmap")
        ui.label("Class shares per batch (% of its rows)").classes("text-sm")
        ui.echart(class_shares_options(reports)).classes("w-full h-72").mark("class-shares")
