"""Experiments page: runs table, score comparison chart, the champion's confusion matrix."""

import pytest
from nicegui import ui

from tests.ui.fake_backend import MLFLOW_DOWN

pytestmark = pytest.mark.asyncio


async def test_shows_runs_chart_and_confusion_matrix(user):
    await user.open("/experiments")
    await user.should_see(marker="runs-table")
    table = user.find(marker="runs-table").elements.pop()
    assert {row["family"] for row in table.rows} == {"logistic_regression", "random_forest", "gradient_boosting"}
    assert all(column.get("sortable") for column in table.columns if column["name"] != "run_id")
    await user.should_see(marker="scores-chart")
    await user.should_see(marker="confusion-matrix")
    image = user.find(marker="confusion-matrix").elements.pop()
    assert image.source.startswith("data:image/png;base64,")


async def test_mlflow_down_shows_a_banner_not_a_trace(user, backend):
    backend.down.add("mlflow")
    await user.open("/experiments")
    await user.should_see(MLFLOW_DOWN)
    await user.should_see("Runs unavailable (see the banner above).")
    await user.should_not_see("Traceback")
    await user.should_not_see(kind=ui.echart)


async def test_no_runs_yet(user, backend):
    backend.run_list = []
    backend.version_list = []
    await user.open("/experiments")
    await user.should_see("No runs yet: training starts once enough batches are stored.")
    await user.should_see("No champion yet.")



async def test_shows_the_champions_permutation_importance(user):
    await user.open("/experiments")
    await user.should_see(marker="importance-chart")
    chart = user.find(marker="importance-chart").elements.pop()
    assert chart.options["yAxis"]["data"] == ["Aspect", "Soil_Type", "Elevation"]  # the largest on top
    assert chart.options["series"][0]["data"] == [0.002, 0.08, 0.31]
    assert "accuracy lost" in chart.options["xAxis"]["name"]
