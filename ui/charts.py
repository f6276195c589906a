"""ECharts options the pages draw: pure functions of plain data, so tests can read them."""

from __future__ import annotations

from shared.schema import LABEL, NUMERIC_FEATURES, cover_type_name

NO_ANIMATION = {"animation": False}  # a screenshot or a refresh shows the final picture


def drift_ratio(report: dict) -> tuple[str, dict[str, float]]:
    """(what it is compared with, feature -> drift / its flag threshold) of one batch report.

    Against the champion's training data when there is a champion, else against the
    batches before it. PSI and JS distance have different scales; divided by their
    thresholds they share one: 1 is where a batch is flagged.
    """
    thresholds = report.get("thresholds") or {"psi": 0.2, "js": 0.1}
    for name in ("champion", "earlier"):
        values = (report.get("drift") or {}).get(name, {}).get("values")
        if values:
            return name, {feature: value / thresholds["psi" if feature in NUMERIC_FEATURES else "js"]
                          for feature, value in values.items()}
    return "", {}


def drift_heatmap_options(reports: list[dict]) -> dict:
    """Batch (rows) x feature (columns), colour = drift / threshold; a cell past 1 is flagged."""
    ratios = [(report["batch_number"], *drift_ratio(report)) for report in reports]
    features = list(dict.fromkeys(f for _, _, values in ratios for f in values))
    batches = [f"batch {number}" + (" vs champion" if against == "champion" else "") for number, against, _ in ratios]
    cells = [[x, y, round(values[feature], 3)]
             for y, (_, _, values) in enumerate(ratios) for x, feature in enumerate(features) if feature in values]
    return {
        **NO_ANIMATION,
        "tooltip": {"position": "top"},
        "grid": {"left": 130, "right": 20, "top": 10, "bottom": 150},
        "xAxis": {"type": "category", "data": features, "name": "feature", "nameLocation": "middle", "nameGap": 135,
                  "axisLabel": {"interval": 0, "rotate": 45}},
        "yAxis": {"type": "category", "data": batches, "name": "batch", "inverse": True},
        "visualMap": {"min": 0, "max": 2, "calculable": True, "orient": "horizontal", "left": "center", "bottom": 0,
                      "text": ["2 × threshold", "0"], "inRange": {"color": ["#f7fbff", "#fdd49e", "#d7301f"]}},
        "series": [{"name": "drift ÷ flag threshold (PSI or JS distance)", "type": "heatmap", "data": cells,
                    "label": {"show": True, "fontSize": 9}}],
    }


def class_shares_options(reports: list[dict]) -> dict:
    """Stacked bars: each batch's class shares in per cent."""
    classes = sorted({int(c) for report in reports for c in report.get("class_shares", {})})
    return {
        **NO_ANIMATION,
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 60, "right": 20, "top": 50, "bottom": 40},
        "xAxis": {"type": "category", "data": [f"batch {r['batch_number']}" for r in reports], "name": "batch"},
        "yAxis": {"type": "value", "min": 0, "max": 100, "name": f"share of rows (%), {LABEL}"},
        "series": [
            {"name": f"{c} {cover_type_name(c)}", "type": "bar", "stack": "shares",
             "data": [round(100 * r.get("class_shares", {}).get(str(c), 0.0), 2) for r in reports]}
            for c in classes
        ],
    }


def importance_options(importance: dict[str, dict[str, float]]) -> dict:
    """Horizontal bars: accuracy lost when a feature is shuffled, largest on top."""
    ranked = sorted(importance.items(), key=lambda item: item[1]["mean"])
    return {
        **NO_ANIMATION,
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 230, "right": 30, "top": 10, "bottom": 50},
        "xAxis": {"type": "value", "name": "accuracy lost when shuffled (fraction of holdout rows)",
                  "nameLocation": "middle", "nameGap": 30},
        "yAxis": {"type": "category", "data": [feature for feature, _ in ranked], "axisLabel": {"interval": 0}},
        "series": [{"name": "permutation importance", "type": "bar",
                    "data": [round(values["mean"], 4) for _, values in ranked]}],
    }


def time_series_options(title: str, unit: str, series: dict[str, list[tuple[float, float]]]) -> dict:
    """Lines over time: name -> [(unix seconds, value)]."""
    return {
        **NO_ANIMATION,
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 70, "right": 20, "top": 40, "bottom": 40},
        "xAxis": {"type": "time", "name": "time (UTC)", "nameLocation": "middle", "nameGap": 25},
        "yAxis": {"type": "value", "name": unit},
        "title": {"show": False, "text": title},
        "series": [{"name": name, "type": "line", "showSymbol": False,
                    "data": [[round(t * 1000), round(v, 6)] for t, v in points]} for name, points in series.items()],
    }
