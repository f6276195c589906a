"""Predict: one record through a validated form, or a CSV file scored in one request."""

from __future__ import annotations

import csv
import io

from nicegui import events, ui

from shared.schema import CATEGORIES, FEATURES, NUMERIC_RANGES, SOIL_TYPES, WILDERNESS_AREAS, cover_type_name
from ui.backend import BackendApi
from ui.widgets import banner, load, section

# the dataset's mean of each numeric feature (see shared/data-api.md), a typical stand
DEFAULTS: dict[str, int | str] = {
    "Elevation": 2959, "Aspect": 156, "Slope": 14, "Horizontal_Distance_To_Hydrology": 269,
    "Vertical_Distance_To_Hydrology": 46, "Horizontal_Distance_To_Roadways": 2350, "Hillshade_9am": 212,
    "Hillshade_Noon": 223, "Hillshade_3pm": 143, "Horizontal_Distance_To_Fire_Points": 1980,
    "Wilderness_Area": "Rawah", "Soil_Type": "C7745",
}
MAX_CSV_ROWS = 5000
RESULT_COLUMNS = ("cover_type", "label", "probability")


def template_csv() -> bytes:
    """A header and one example row: what the CSV upload expects."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FEATURES)
    writer.writerow([DEFAULTS[name] for name in FEATURES])
    return out.getvalue().encode()


def range_rules(name: str) -> dict:
    low, high = NUMERIC_RANGES[name]
    return {
        "Required": lambda value: value is not None,
        "Whole number": lambda value: value is None or float(value).is_integer(),
        f"Between {low} and {high}": lambda value: value is None or low <= value <= high,
    }


def top_probability(prediction: dict) -> float | None:
    probabilities = prediction.get("probabilities")
    values = probabilities.values() if isinstance(probabilities, dict) else probabilities or []
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    return max(numbers) if numbers else None


def probability_pairs(prediction: dict) -> list[tuple[str, float]]:
    probabilities = prediction.get("probabilities") or {}
    if isinstance(probabilities, list):
        probabilities = {str(index): value for index, value in enumerate(probabilities)}
    return [(_class_name(key), float(value)) for key, value in probabilities.items()]


def _class_name(key) -> str:
    """Probabilities are keyed by class number; show the cover type's name beside it."""
    text = str(key)
    return f"{cover_type_name(int(text))} ({text})" if text.lstrip("-").isdigit() else text


def model_text(model: dict | None) -> str:
    model = model or {}
    parts = [model.get("family"), f"version {model['version']}" if model.get("version") else None]
    return "model " + " · ".join(str(p) for p in parts if p) if any(parts) else "model: unknown"


def predict_page(backend: BackendApi) -> None:
    ui.label("Predict").classes("text-2xl")
    single_record_form(backend)
    csv_scoring(backend)


def single_record_form(backend: BackendApi) -> None:
    inputs: dict[str, ui.element] = {}
    with section("One record"):
        with ui.grid(columns=3).classes("w-full gap-x-4"):
            for name in NUMERIC_RANGES:
                # no min/max: NiceGUI would clamp silently; the rules say what is wrong instead
                inputs[name] = ui.number(
                    name, value=DEFAULTS[name], step=1, format="%d", validation=range_rules(name),
                ).mark(name).props("dense")
            inputs["Wilderness_Area"] = ui.select(
                list(WILDERNESS_AREAS), label="Wilderness_Area", value=DEFAULTS["Wilderness_Area"],
            ).mark("Wilderness_Area").props("dense")
            inputs["Soil_Type"] = ui.select(
                list(SOIL_TYPES), label="Soil_Type", value=DEFAULTS["Soil_Type"], with_input=True,
                validation={"Choose a soil type": lambda value: value in CATEGORIES["Soil_Type"]},
            ).mark("Soil_Type").props("dense")
        submit = ui.button("Predict", icon="send").mark("predict-button")
        answer = ui.column().classes("w-full")

    async def on_submit() -> None:
        answer.clear()
        invalid = [name for name, field in inputs.items() if hasattr(field, "validate") and not field.validate()]
        if invalid:
            with answer:
                ui.label(f"Fix the highlighted fields: {', '.join(invalid)}").classes("text-negative").mark(
                    "form-error"
                )
            return
        record = {name: _plain(field.value) for name, field in inputs.items()}
        submit.disable()
        try:
            result, problem = await load(lambda: backend.predict(record))
        finally:
            submit.enable()
        with answer:
            show_answer(result, problem)

    submit.on_click(on_submit)


def _plain(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


def show_answer(result: dict | None, problem: str | None) -> None:
    if problem:
        banner(problem)
        return
    prediction = (result.get("predictions") or [{}])[0]
    ui.label(f"{prediction.get('label', '?')} (cover type {prediction.get('cover_type', '?')})").classes(
        "text-xl font-medium"
    ).mark("prediction-label")
    ui.label(model_text(result.get("model"))).mark("model-version")
    pairs = sorted(probability_pairs(prediction), key=lambda pair: pair[1])
    if pairs:
        ui.echart({
            "animation": False,
            "grid": {"left": 130, "right": 30, "top": 30, "bottom": 45},
            "xAxis": {"type": "value", "max": 1, "name": "probability (0 to 1)", "nameLocation": "middle",
                      "nameGap": 28},
            "yAxis": {"type": "category", "data": [name for name, _ in pairs], "name": "cover type"},
            "series": [{"type": "bar", "data": [round(p, 4) for _, p in pairs]}],
        }).classes("w-full h-64").mark("probability-chart")


def csv_scoring(backend: BackendApi) -> None:
    with section("A CSV file"):
        ui.label(f"Header row with the 12 feature columns, at most {MAX_CSV_ROWS} rows.")
        ui.button("Download the CSV template", icon="download",
                  on_click=lambda: ui.download.content(template_csv(), "covertype-template.csv", "text/csv"))
        upload = ui.upload(label="Upload a CSV to score", auto_upload=True, max_files=1).props("accept=.csv")
        upload.mark("csv-upload")
        results = ui.column().classes("w-full")

    async def on_upload(event: events.UploadEventArguments) -> None:
        results.clear()
        try:
            text = (await event.file.read()).decode("utf-8-sig")
        except UnicodeDecodeError:
            with results:
                banner("the file is not UTF-8 text; save it as CSV (UTF-8)")
            return
        upload.reset()
        with results:
            await score_csv(backend, text)

    upload.on_upload(on_upload)


async def score_csv(backend: BackendApi, text: str) -> None:
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        banner("the CSV has no data rows under its header")
        return
    if len(rows) > MAX_CSV_ROWS:
        banner(f"the CSV has {len(rows)} rows, over the limit of {MAX_CSV_ROWS}: split it")
        return
    result, problem = await load(lambda: backend.predict_csv(text))
    if problem:
        banner(problem)
        return
    predictions = result.get("predictions") or []
    scored = [
        {**row, "cover_type": p.get("cover_type"), "label": p.get("label"), "probability": top_probability(p)}
        for row, p in zip(rows, predictions, strict=False)
    ]
    ui.label(f"{len(scored)} rows scored · {model_text(result.get('model'))}").mark("csv-summary")
    columns = [{"name": c, "label": c, "field": c, "sortable": True} for c in (*RESULT_COLUMNS, *FEATURES)]
    ui.table(columns=columns, rows=scored, pagination=10).props("dense flat").classes("w-full").mark("csv-results")
    ui.button("Download the scored CSV", icon="download",
              on_click=lambda: ui.download.content(scored_csv(scored), "scored.csv", "text/csv")).mark(
        "download-scored"
    )


def scored_csv(scored: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*FEATURES, *RESULT_COLUMNS], extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(scored)
    return out.getvalue().encode()
