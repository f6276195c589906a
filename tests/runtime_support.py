"""Helpers for the runtime tests: a gateway + functions stack of its own, and a callback receiver.

A test module's `runtime`, `url` and `auth` fixtures are in tests/conftest.py."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import requests

from infra.gateway import natsq
from infra.supervisor import Stack
from shared.settings.stack import ROOT
from tests.http_support import LoopbackServer, QuietHandler

FIXTURES = ROOT / "tests" / "fixtures"
TEST_STACK_FILE = FIXTURES / "stack.yml"


@contextlib.contextmanager
def runtime_stack(state_dir: Path, stack_file: Path = TEST_STACK_FILE,
                  env: Mapping[str, str] | None = None) -> Iterator[Stack]:
    """NATS, the gateway and the functions of `stack_file` only (no databases), under a supervisord of their own.

    `env` (e.g. GATEWAY_RETRY_DELAY) reaches the gateway and functions: supervisord inherits it.
    """
    from tests.conftest import make_stack_config

    config = dataclasses.replace(make_stack_config(state_dir), stack_file=stack_file)
    started = Stack(config)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in (env or {}).items():
                patch.setenv(key, value)
            started.up(["nats", "functions", "gateway"], progress=lambda line: None)
        yield started
    finally:
        started.down()


def answers(address: str) -> bool:
    """Whether `address` answers 200 now (a gateway coming back after a kill)."""
    try:
        return requests.get(address, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def queued_calls(stack: Stack) -> int:
    """Calls in the gateway's JetStream stream: waiting, running, waiting to retry or to call back."""
    url = f"nats://{stack.config.host}:{stack.config.ports['nats']}"
    return asyncio.run(natsq.queued(url, stack.config.secret("nats-password")))


@dataclasses.dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class CallbackReceiver(LoopbackServer):
    """A loopback HTTP server recording every POST it gets (the X-Callback-Url target)."""

    def __init__(self):
        self.calls: list[Received] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._cond:
                    receiver.calls.append(Received(dict(self.headers.items()), body))
                    receiver._cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}/done"

    def for_call(self, call_id: str) -> list[Received]:
        return [c for c in self.calls if c.headers.get("X-Call-Id") == call_id]

    def wait_for(self, call_ids, timeout: float = 15) -> dict[str, Received]:
        """The first callback of each call id; fails the test if any is missing after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = {cid: self.for_call(cid)[0] for cid in call_ids if self.for_call(cid)}
                if len(found) == len(set(call_ids)):
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    missing = sorted(set(call_ids) - set(found))
                    pytest.fail(f"no callback after {timeout}s for {len(missing)} call(s): {missing[:3]}")
                self._cond.wait(remaining)
