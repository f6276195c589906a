"""Predict page: the form's defaults and validation, the answer, CSV scoring and downloads."""

import csv
import io

import pytest
from nicegui import ui
from nicegui.elements.upload_files import SmallFileUpload

from shared.errors import InvalidInput
from shared.schema import FEATURES
from tests.ui.fake_backend import GATEWAY_DOWN
from ui.predict_page import DEFAULTS, template_csv

pytestmark = pytest.mark.asyncio


async def test_defaults_predict_a_label_with_chart_and_version(user, backend):
    await user.open("/predict")
    user.find(marker="predict-button").click()
    await user.should_see("Lodgepole Pine (cover type 2)")
    await user.should_see("model gradient_boosting · version 3")
    await user.should_see(marker="probability-chart")
    assert backend.predicted == [DEFAULTS]
    assert all(isinstance(backend.predicted[0][name], int) for name in FEATURES[:10])
    chart = user.find(marker="probability-chart").elements.pop()
    assert chart.options["yAxis"]["data"][-1] == "Lodgepole Pine (2)"


@pytest.mark.parametrize(
    "field, typed, message",
    [
        ("Elevation", "99999", "Between 1500 and 4500"),
        ("Hillshade_9am", "256", "Between 0 and 255"),
        ("Vertical_Distance_To_Hydrology", "-501", "Between -500 and 1000"),
        ("Slope", "2.5", "Whole number"),
    ],
)
async def test_out_of_range_values_are_refused_inline(user, backend, field, typed, message):
    await user.open("/predict")
    user.find(marker=field).clear().type(typed)
    await user.should_see(message)
    user.find(marker="predict-button").click()
    await user.should_see(f"Fix the highlighted fields: {field}")
    assert backend.predicted == []


async def test_an_empty_field_is_required(user, backend):
    await user.open("/predict")
    user.find(marker="Aspect").clear()
    user.find(marker="predict-button").click()
    await user.should_see("Required")
    await user.should_see("Fix the highlighted fields: Aspect")
    assert backend.predicted == []


async def test_dropdowns_offer_the_schema_categories(user):
    await user.open("/predict")
    area = user.find(marker="Wilderness_Area").elements.pop()
    soil = user.find(marker="Soil_Type").elements.pop()
    assert list(area.options) == ["Rawah", "Neota", "Commanche", "Cache"]
    assert len(soil.options) == 40 and soil.value == "C7745"


async def test_gateway_down_shows_a_banner(user, backend):
    backend.down.add("gateway")
    await user.open("/predict")
    user.find(marker="predict-button").click()
    await user.should_see(GATEWAY_DOWN)


async def test_refused_input_names_the_field(user, backend):
    backend.predict_error = InvalidInput("1 invalid value(s)", details=[{"row": 0, "field": "Soil_Type",
                                                                         "error": "unknown category"}])
    await user.open("/predict")
    user.find(marker="predict-button").click()
    await user.should_see("1 invalid value(s) (row 0 Soil_Type: unknown category)")


async def upload(user, text: str) -> None:
    element = user.find(marker="csv-upload").elements.pop()
    with user:
        await element.handle_uploads([SmallFileUpload("stands.csv", "text/csv", text.encode())])


async def test_csv_upload_scores_every_row_and_downloads_them(user, backend):
    await user.open("/predict")
    text = template_csv().decode() + template_csv().decode().splitlines()[1] + "\n"
    await upload(user, text)
    await user.should_see("2 rows scored · model gradient_boosting · version 3")
    table = user.find(marker="csv-results").elements.pop()
    assert [row["label"] for row in table.rows] == ["Spruce/Fir", "Spruce/Fir"]
    assert backend.predicted_csv == [text]
    user.find(marker="download-scored").click()
    response = await user.download.next()
    scored = list(csv.DictReader(io.StringIO(response.text)))
    assert len(scored) == 2 and scored[0]["label"] == "Spruce/Fir" and scored[0]["probability"] == "0.8"
    assert scored[0]["Elevation"] == str(DEFAULTS["Elevation"])


async def test_csv_without_rows_is_refused_before_sending(user, backend):
    await user.open("/predict")
    await upload(user, ",".join(FEATURES) + "\n")
    await user.should_see("the CSV has no data rows under its header")
    assert backend.predicted_csv == []


async def test_template_download_has_the_feature_header(user):
    await user.open("/predict")
    user.find("Download the CSV template").click()
    response = await user.download.next()
    header, example = list(csv.reader(io.StringIO(response.text)))
    assert tuple(header) == FEATURES
    assert example[FEATURES.index("Wilderness_Area")] == "Rawah"


async def test_the_form_has_all_twelve_features(user):
    await user.open("/predict")
    for name in FEATURES:
        await user.should_see(marker=name)
    await user.should_see(kind=ui.upload)


async def test_csv_with_gateway_down_shows_a_banner(user, backend):
    backend.down.add("gateway")
    await user.open("/predict")
    await upload(user, template_csv().decode())
    await user.should_see(GATEWAY_DOWN)
    await user.should_not_see(marker="csv-results")
