"""Page tests with NiceGUI's simulated `user` (no browser), over a fake backend.

NiceGUI's own pytest plugin finds the app through a main file; our app is built by a
function, so this fixture hands `build_app(fake)` to NiceGUI's `user_simulation`
directly. Like the plugin's fixture, it fails a test that logged an ERROR.
"""

from __future__ import annotations

import logging

import pytest
import pytest_asyncio
from nicegui.testing.user_simulation import user_simulation

from tests.ui.fake_backend import FakeBackend
from ui.app import build_app


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest_asyncio.fixture
async def user(backend, caplog):
    async with user_simulation(build_app(backend)) as simulated:
        yield simulated
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    if errors:
        pytest.fail(f"the app logged errors: {[r.getMessage() for r in errors]}", pytrace=False)
