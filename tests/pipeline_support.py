"""The whole system for end-to-end and fault tests: every service of `make up`, with a
compressed cadence and small batches, under a supervisord of its own."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

import pytest

from infra.supervisor import Stack
from tests.conftest import admin_mlflow_client_env, make_stack_config

T = TypeVar("T")

# cron every 2 s against a batch period of 3 s: a new batch about every 4 s; 581 rows a batch
FAST_CADENCE = {
    "FETCH_SCHEDULE": "@every 2s",
    "DATA_API_BATCH_PERIOD": "3",
    "DATA_API_ROWS": "58101",
    "MODEL_POLL_SECONDS": "1",
    "GATEWAY_RETRY_DELAY": "1",
}


@contextlib.contextmanager
def pipeline_stack(state_dir: Path, env: Mapping[str, str] | None = None) -> Iterator[Stack]:
    """Every service, started in order and healthy; stopped (all of it) on exit.

    `env` overrides FAST_CADENCE; supervisord and every service inherit it.
    """
    stack = Stack(make_stack_config(state_dir))
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in {**FAST_CADENCE, **(env or {})}.items():
                patch.setenv(key, value)
            # NiceGUI runs in its test mode when it sees pytest's variables: the UI must run as in production
            for key in [key for key in os.environ if key.startswith("PYTEST")]:
                patch.delenv(key)
            stack.up(progress=lambda line: None)
        with admin_mlflow_client_env(stack):
            yield stack
    finally:
        stack.down()


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
