"""Pipeline page: health, batches k/threshold, last fetch, training state, champion; banners when down."""

import pytest
from nicegui import ui

from tests.ui.fake_backend import MINIO_DOWN, MLFLOW_DOWN

pytestmark = pytest.mark.asyncio


async def test_shows_batches_training_and_champion(user):
    await user.open("/")
    await user.should_see("3/10 batches stored")
    await user.should_see("Last fetch-batch result: batch 3 stored 2026-11-27 05:03:00 UTC, 5810 rows")
    await user.should_see("done")
    await user.should_see("gradient_boosting · version 3")
    await user.should_see(marker="service-mlflow")
    await user.should_not_see(marker="banner")


async def test_mlflow_down_shows_a_banner_and_the_batches(user, backend):
    backend.down.add("mlflow")
    await user.open("/")
    await user.should_see(marker="banner")
    await user.should_see(f"MLflow is down: {MLFLOW_DOWN}")
    await user.should_see("3/10 batches stored")
    await user.should_see("Champion unavailable (see the banner above).")


async def test_minio_down_shows_a_banner_and_the_champion(user, backend):
    backend.down.add("minio")
    await user.open("/")
    await user.should_see(MINIO_DOWN)
    await user.should_see("Batches unavailable (see the banner above).")
    await user.should_see("gradient_boosting · version 3")


async def test_no_batches_yet(user, backend):
    backend.stored_batches = []
    await user.open("/")
    await user.should_see("0/10 batches stored")
    await user.should_see("No batch yet: fetch-batch stores one every 5 minutes.")


async def test_refreshes_by_itself(user, backend):
    await user.open("/")
    await user.should_see("3/10 batches stored")
    backend.stored_batches.append({**backend.stored_batches[-1], "number": 4, "fetched_at": "2026-11-27T05:04:00Z"})
    timer = next(iter(user.find(ui.timer).elements))
    await timer.callback()
    await user.should_see("4/10 batches stored")


async def test_navigation_reaches_every_page(user):
    await user.open("/")
    for title in ("Predict", "Experiments", "Models", "Pipeline"):
        user.find(marker=f"nav-{title.lower()}").click()
        await user.should_see(kind=ui.label, content=title)


async def test_a_failed_training_shows_its_reason(user, backend):
    backend.training_state = lambda stored: {"state": "failed", "training_id": "t-0002",
                                             "reason": "random_forest: failed"}
    await user.open("/")
    await user.should_see("failed")
    await user.should_see("random_forest: failed")
    await user.should_see("training t-0002")


async def test_shows_drift_heatmap_class_shares_and_the_flag(user):
    await user.open("/")
    await user.should_see("Flagged for drift: batch 3: Elevation, Cover_Type")
    heatmap = user.find(marker="drift-heatmap").elements.pop().options
    assert heatmap["yAxis"]["data"] == ["batch 1", "batch 2", "batch 3"]
    assert heatmap["xAxis"]["data"] == ["Elevation", "Aspect", "Soil_Type", "Cover_Type"]
    cells = {(x, y): value for x, y, value in heatmap["series"][0]["data"]}
    assert cells[(0, 2)] == pytest.approx(1.2 / 0.2) and cells[(3, 2)] == pytest.approx(0.12 / 0.1)  # ÷ threshold
    assert cells[(0, 0)] == pytest.approx(0.01 / 0.2)
    assert heatmap["xAxis"]["name"] == "feature" and heatmap["yAxis"]["name"] == "batch"
    shares = user.find(marker="class-shares").elements.pop().options
    assert shares["yAxis"]["name"].startswith("share of rows (%)")
    assert [s["name"] for s in shares["series"]] == ["1 Spruce/Fir", "2 Lodgepole Pine", "3 Ponderosa Pine"]
    assert shares["series"][0]["data"] == [37.0, 37.0, 49.0]
