"""Helpers for the Data API and fetch-batch tests: the stand-in served in a thread, a
python3-http event, and a small fake Data API for the failure cases only."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from infra.data_api.app import create_app
from infra.data_api.source import synthetic_source
from shared.settings.data_api import DataApiConfig
from tests.http_support import LoopbackServer, QuietHandler


@dataclass
class Event:
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    method: str = "GET"
    query: dict = field(default_factory=dict)
    path: str = "/"


@dataclass
class Context:
    hostname: str = "localhost"


def stand_in_config(state_dir: Path, port: int, period: float = 300, rows: int = 581012) -> DataApiConfig:
    return DataApiConfig(host="127.0.0.1", port=port, state_dir=state_dir, batch_period=period, csv_path=None,
                         seed=6, synthetic_rows=rows)


@contextmanager
def serve(app, port: int):
    """A real uvicorn server for `app` on 127.0.0.1:port, in a thread, for the block."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the Data API stand-in did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def stand_in(state_dir: Path, port: int, period: float = 300, rows: int = 581012, warm_group: int = 6):
    """The real stand-in; `warm_group`'s data is made up front so a first call is as quick as the rest."""
    config = stand_in_config(state_dir, port, period, rows)
    source = synthetic_source(config.synthetic_rows, config.seed)
    source.part_for_group(warm_group)
    with serve(create_app(config, source=source), port) as url:
        yield url


class FakeDataApi(LoopbackServer):
    """Answers GET /data with what a test scripts: (status, body bytes, delay seconds) per call;
    the last script entry repeats. Records how many calls it got."""

    def __init__(self, port: int, script: list[tuple[int, bytes, float]]):
        self.script = script
        self.calls = 0
        fake = self

        class Handler(QuietHandler):
            def do_GET(self):
                status, body, delay = fake.script[min(fake.calls, len(fake.script) - 1)]
                fake.calls += 1
                time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        super().__init__(Handler, port)
        self.url = f"http://127.0.0.1:{port}"


def payload(group: int, batch: int, rows: list[list[str]]) -> bytes:
    return json.dumps({"group_number": group, "batch_number": batch, "data": rows}).encode()
