"""The async path: `/async-function/echo` through NATS JetStream to an X-Callback-Url.

`make bench` prints accepted calls per second (202s) and the time from each 202 to its
callback at p50/p99, twice: a burst (CALLS calls at concurrency 32, so the later ones
queue behind the workers) and one call at a time (the path's own latency). Bounded: a
fixed number of calls and TIME_CAP seconds for each figure.
"""

from __future__ import annotations

import asyncio
import os
import time

import aiohttp
import pytest
from aiohttp import web

from tests.runtime_support import runtime_stack

pytestmark = pytest.mark.bench
CALLS = 2000
ONE_AT_A_TIME = 200
TIME_CAP = 60.0


class Receiver:
    """Callbacks land here, in the bench's own event loop: the arrival time of each call id."""

    def __init__(self):
        self.arrived: dict[str, float] = {}
        self.all_in = asyncio.Event()
        self.expected = 0

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        assert request.headers["X-Function-Status"] == "200"
        self.arrived[request.headers["X-Call-Id"]] = time.perf_counter()
        if len(self.arrived) >= self.expected:
            self.all_in.set()
        return web.Response()

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/done", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/done"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def run(url: str, count: int, concurrency: int) -> tuple[float, float, float, float]:
    """(accepted per second, 202-to-callback p50 ms, p99 ms, calls done per second)."""
    receiver = Receiver()
    receiver.expected = count
    callback = await receiver.start()
    accepted: dict[str, float] = {}
    remaining = iter(range(count))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def client():
            for _ in remaining:
                async with session.post(f"{url}/async-function/echo", data=b'{"bench": true}',
                                        headers={"X-Callback-Url": callback},
                                        timeout=aiohttp.ClientTimeout(total=10)) as response:
                    assert response.status == 202, await response.text()
                    accepted[response.headers["X-Call-Id"]] = time.perf_counter()

        began = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(client() for _ in range(concurrency))), TIME_CAP)
        submitted = time.perf_counter() - began
        await asyncio.wait_for(receiver.all_in.wait(), TIME_CAP)
        done = time.perf_counter() - began
    await receiver.runner.cleanup()
    latencies = [(receiver.arrived[call_id] - at) * 1000 for call_id, at in accepted.items()]
    return count / submitted, percentile(latencies, 0.5), percentile(latencies, 0.99), count / done


def test_async_path(tmp_path):
    with runtime_stack(tmp_path) as stack:
        url = stack.config.url("gateway")
        asyncio.run(run(url, 100, 8))  # warm the connections and the stream
        sync = os.environ.get("NATS_SYNC_INTERVAL", "always")
        print(f"\n{'async path':<22} {'accepted/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'done/s':>7}   "
              f"(202 -> callback; NATS_SYNC_INTERVAL={sync})")
        for name, count, concurrency in (("burst, concurrency 32", CALLS, 32), ("one at a time", ONE_AT_A_TIME, 1)):
            rate, p50, p99, done = asyncio.run(run(url, count, concurrency))
            print(f"{name:<22} {rate:10.0f} {p50:8.1f} {p99:8.1f} {done:7.0f}")
