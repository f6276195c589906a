"""Experiments: every run as a sortable table, the scores compared, the champion's confusion matrix."""

from __future__ import annotations

import asyncio
import base64

from nicegui import ui

from ui.backend import BackendApi
from ui.charts import importance_options
from ui.widgets import banner, fmt_score, fmt_time, load, section

SCORES = {"accuracy": "Accuracy", "f1": "F1 (weighted)", "precision": "Precision", "recall": "Recall"}


def run_label(run: dict) -> str:
    """Family over the end of the training id (ids start with a shared date, they end unique)."""
    training = (run.get("training_id") or "")[-6:]
    family = run.get("family") or run.get("run_name")
    return f"{family}\n…{training}" if training else str(family)


def comparison_chart_options(runs: list[dict]) -> dict:
    scored = sorted((r for r in runs if r.get("accuracy") is not None), key=lambda r: r.get("start_time") or 0)
    return {
        "animation": False,  # a screenshot or a refresh shows the final bars, not a growing one
        "tooltip": {"trigger": "axis"},
        "legend": {"data": list(SCORES.values()), "top": 0},
        "grid": {"left": 50, "right": 20, "top": 40, "bottom": 60},
        "xAxis": {"type": "category", "data": [run_label(r) for r in scored],
                  "axisLabel": {"interval": 0, "lineHeight": 16}},
        "yAxis": {"type": "value", "min": 0, "max": 1},
        "series": [
            {"name": title, "type": "bar", "data": [None if r.get(key) is None else round(r[key], 4) for r in scored]}
            for key, title in SCORES.items()
        ],
    }


async def experiments_page(backend: BackendApi) -> None:
    ui.label("Experiments").classes("text-2xl")
    (runs, runs_problem), (champion, champion_problem) = await asyncio.gather(
        load(backend.runs), load(backend.champion)
    )
    for problem in dict.fromkeys(p for p in (runs_problem, champion_problem) if p):
        banner(problem)
    runs_table(runs)
    with section("Scores by family and training"):
        if runs:
            ui.echart(comparison_chart_options(runs)).classes("w-full h-80").mark("scores-chart")
        else:
            ui.label("No scores to compare yet.")
    await confusion_matrix(backend, champion, champion_problem)
    await importance_chart(backend, champion, champion_problem)


def runs_table(runs: list[dict] | None) -> None:
    with section("Runs"):
        if runs is None:
            ui.label("Runs unavailable (see the banner above).")
            return
        if not runs:
            ui.label("No runs yet: training starts once enough batches are stored.")
            return
        rows = [{**r, "started": fmt_time(r.get("start_time")),
                 **{key: fmt_score(r.get(key)) for key in SCORES}} for r in runs]
        columns = [
            {"name": "started", "label": "Started", "field": "started", "sortable": True, "align": "left"},
            {"name": "training_id", "label": "Training", "field": "training_id", "sortable": True, "align": "left"},
            {"name": "family", "label": "Family", "field": "family", "sortable": True, "align": "left"},
            {"name": "status", "label": "Status", "field": "status", "sortable": True, "align": "left"},
            *({"name": key, "label": title, "field": key, "sortable": True} for key, title in SCORES.items()),
            {"name": "run_id", "label": "Run", "field": "run_id", "align": "left"},
        ]
        ui.table(columns=columns, rows=rows, row_key="run_id", pagination=15).props("dense flat").classes(
            "w-full"
        ).mark("runs-table")


async def confusion_matrix(backend: BackendApi, champion: dict | None, champion_problem: str | None) -> None:
    with section("Champion's confusion matrix"):
        if champion_problem:
            ui.label("Champion unavailable (see the banner above).")
            return
        if champion is None or not champion.get("run_id"):
            ui.label("No champion yet.")
            return
        ui.label(f"{champion['family']} · version {champion['version']} · run {champion['run_id']}")
        png, problem = await load(lambda: backend.confusion_matrix(champion["run_id"]))
        if problem:
            banner(problem)
        elif png is None:
            ui.label("This run logged no confusion matrix image.")
        else:
            source = "data:image/png;base64," + base64.b64encode(png).decode()
            ui.image(source).props("no-transition no-spinner").classes("max-w-xl").mark("confusion-matrix")


async def importance_chart(backend: BackendApi, champion: dict | None, champion_problem: str | None) -> None:
    with section("What the champion relies on: permutation importance on the holdout"):
        if champion_problem or champion is None or not champion.get("run_id"):
            ui.label("No champion to explain (see above).")
            return
        importance, problem = await load(lambda: backend.importance(champion["run_id"]))
        if problem:
            banner(problem)
        elif not importance:
            ui.label("This run logged no permutation importance.")
        else:
            ui.echart(importance_options(importance)).classes("w-full h-96").mark("importance-chart")
