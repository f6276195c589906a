"""Cron schedules as cron-connector reads them: which it takes, and when they fire next."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.errors import ConfigError
from shared.schedule import next_firing, schedule_ok


@pytest.mark.parametrize("schedule", [
    "*/5 * * * *", "0 3 * * 1-5", "15,45 */2 1-15 jan-jun mon-fri", "0 0 ? * SUN", "5/10 * * * *",
    "@hourly", "@daily", "@midnight", "@every 5s", "@every 1m30s", "@every 500ms", "CRON_TZ=UTC 0 6 * * *",
])
def test_schedules_cron_connector_takes(schedule):
    assert schedule_ok(schedule)


@pytest.mark.parametrize("schedule", [
    "", "*/5 * * * * *", "0 */5 * * * * *", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
    "* * * * 7", "*/0 * * * *", "5-2 * * * *", "@every", "@every 5", "@every five", "@often", "every 5s",
])
def test_schedules_cron_connector_would_skip(schedule):
    assert not schedule_ok(schedule)


NOW = datetime(2026, 12, 1, 21, 17, 23, tzinfo=UTC)


@pytest.mark.parametrize("schedule, expected", [
    ("*/5 * * * *", datetime(2026, 12, 1, 21, 20, tzinfo=UTC)),
    ("@hourly", datetime(2026, 12, 1, 22, 0, tzinfo=UTC)),
    ("0 6 * * 1", datetime(2026, 12, 7, 6, 0, tzinfo=UTC)),  # Monday 06:00
    ("CRON_TZ=UTC 0 6 * * *", datetime(2026, 12, 2, 6, 0, tzinfo=UTC)),  # the time-zone prefix is read past
    ("@every 10s", None),  # counts from cron-connector's start, not from the clock
])
def test_next_firing_of_a_schedule(schedule, expected):
    assert next_firing(schedule, NOW) == expected


@pytest.mark.parametrize("schedule", ["61 * * * *", "*/10 * * * * *", "not a schedule"])
def test_a_bad_schedule_has_no_next_firing(schedule):
    with pytest.raises(ConfigError, match="is invalid"):
        next_firing(schedule, NOW)
