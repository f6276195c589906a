"""Operations: per function, calls, errors and latency over the last hour (Prometheus), the
last lines of each function's log (the gateway's /system/logs), and the cron schedule."""

from __future__ import annotations

import asyncio
import time

from nicegui import ui

from ui.backend import BackendApi
from ui.charts import time_series_options
from ui.widgets import banner, fmt_time, live, load, section

REFRESH_SECONDS = 5.0
LOG_LINES = 20
CHARTS = {  # query name -> title, y-axis unit, scale
    "calls": ("Calls per second", "calls / s", 1.0),
    "errors": ("Error share (5xx answers)", "% of calls", 100.0),
    "p50": ("Latency p50", "seconds", 1.0),
    "p99": ("Latency p99", "seconds", 1.0),
}


async def collect(backend: BackendApi) -> dict:
    """One snapshot: metrics, functions (with schedules), and each function's last log lines."""
    metrics, functions = await asyncio.gather(load(backend.operations), load(backend.functions))
    names = [fn["name"] for fn in functions[0] or []]
    logs = await asyncio.gather(*(load(lambda name=name: backend.function_logs(name, LOG_LINES)) for name in names))
    return {"metrics": metrics, "functions": functions, "logs": dict(zip(names, logs, strict=True))}


async def operations_page(backend: BackendApi, refresh_seconds: float = REFRESH_SECONDS) -> None:
    ui.label("Operations").classes("text-2xl")
    body = ui.column().classes("w-full gap-4")
    await live(body, lambda: collect(backend), render, refresh_seconds)


def render(snapshot: dict) -> None:
    metrics, metrics_problem = snapshot["metrics"]
    functions, functions_problem = snapshot["functions"]
    log_problems = [problem for _, problem in snapshot["logs"].values() if problem]
    for problem in dict.fromkeys(p for p in (metrics_problem, functions_problem, *log_problems) if p):
        banner(problem)
    schedule_card(functions)
    metrics_card(metrics)
    logs_card(snapshot["logs"])
    ui.label(f"Updated {fmt_time(time.time() * 1000)}; refreshes every {REFRESH_SECONDS:g} s.").classes(
        "text-xs text-gray-500")


def schedule_card(functions: list[dict] | None) -> None:
    with section("Schedule"):
        if functions is None:
            ui.label("Functions unavailable (see the banner above).")
            return
        scheduled = [fn for fn in functions if fn.get("schedule")]
        if not scheduled:
            ui.label("No function has a cron schedule.")
        for fn in scheduled:
            ui.label(f"{fn['name']}: schedule {fn['schedule']} · next firing {fmt_time(fn['next_firing'])}").mark(
                f"schedule-{fn['name']}")


def metrics_card(metrics: dict | None) -> None:
    with section("Calls through the gateway, last hour (Prometheus)"):
        if metrics is None:
            ui.label("Metrics unavailable (see the banner above).")
            return
        if not any(metrics.values()):
            ui.label("No calls recorded in the last hour.")
        with ui.grid(columns=2).classes("w-full"):
            for name, (title, unit, scale) in CHARTS.items():
                series = {fn: [(t, v * scale) for t, v in points] for fn, points in metrics.get(name, {}).items()}
                with ui.column().classes("w-full gap-0"):
                    ui.label(title).classes("text-sm font-medium")
                    ui.echart(time_series_options(title, unit, series)).classes("w-full h-56").mark(f"chart-{name}")


def logs_card(logs: dict[str, tuple[list[dict] | None, str | None]]) -> None:
    with section(f"Function logs (last {LOG_LINES} lines each)"):
        if not logs:
            ui.label("No function to show (see the banner above).")
        for name, (lines, _) in logs.items():
            ui.label(name).classes("font-medium")
            if lines is None:
                ui.label("Log unavailable (see the banner above).")
                continue
            text = "\n".join(f"{fmt_time(line.get('timestamp'))} {line.get('instance', '')}: {line.get('text', '')}"
                             for line in lines) or "(no lines yet)"
            ui.code(text, language="text").classes("w-full text-xs").mark(f"log-{name}")
