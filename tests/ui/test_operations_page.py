"""Operations page: calls, errors and latency charts per function, each function's log, the schedule."""

import asyncio
import time

import pytest
from nicegui import ui

from tests.ui.fake_backend import GATEWAY_DOWN, PROMETHEUS_DOWN
from ui.operations_page import REFRESH_SECONDS

pytestmark = pytest.mark.asyncio


async def test_shows_charts_logs_and_the_next_firing(user):
    await user.open("/operations")
    await user.should_see("fetch-batch: schedule */5 * * * * · next firing 2026-11-27 05:05:00 UTC")
    calls = user.find(marker="chart-calls").elements.pop().options
    assert {s["name"] for s in calls["series"]} == {"predict", "fetch-batch"}
    predict = next(s for s in calls["series"] if s["name"] == "predict")
    assert predict["data"][:2] == [[1_790_000_000_000, 2.0], [1_790_000_015_000, 4.0]]  # ms, calls/s
    assert calls["xAxis"]["type"] == "time" and calls["yAxis"]["name"] == "calls / s"
    errors = user.find(marker="chart-errors").elements.pop().options
    assert errors["yAxis"]["name"] == "% of calls" and errors["series"][0]["data"][0][1] == pytest.approx(1.0)
    for name in ("p50", "p99"):
        assert user.find(marker=f"chart-{name}").elements.pop().options["yAxis"]["name"] == "seconds"
    log = user.find(marker="log-predict").elements.pop()
    assert "2026-11-27 05:02:00 UTC predict-1: predict line 2" in log.content
    await user.should_see(marker="log-fetch-batch")
    await user.should_not_see(marker="banner")


async def test_prometheus_down_shows_a_banner_and_the_logs(user, backend):
    backend.down.add("prometheus")
    await user.open("/operations")
    await user.should_see(PROMETHEUS_DOWN)
    await user.should_see("Metrics unavailable (see the banner above).")
    await user.should_see(marker="log-predict")


async def test_gateway_down_shows_a_banner_and_the_charts(user, backend):
    backend.down.add("gateway")
    await user.open("/operations")
    await user.should_see(GATEWAY_DOWN)
    await user.should_see("Functions unavailable (see the banner above).")
    await user.should_see(marker="chart-calls")


async def test_logs_refresh_by_themselves(user, backend):
    await user.open("/operations")
    await user.should_see(marker="log-predict")
    backend.function_logs = lambda name, tail: [{"instance": f"{name}-1", "timestamp": "2026-11-27T06:00:00Z",
                                                 "text": "a new line"}]
    timer = next(t for t in user.find(ui.timer).elements if t.interval == REFRESH_SECONDS)
    deadline = time.monotonic() + 20
    while "a new line" not in user.find(marker="log-predict").elements.pop().content:
        assert time.monotonic() < deadline, "the log did not refresh"
        await timer.callback()  # returns at once while the page's own refresh is still running
        await asyncio.sleep(0.1)
