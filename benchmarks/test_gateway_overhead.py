"""What the gateway adds to a call: the echo test function, direct vs through the gateway.

`make bench` prints throughput and p50/p99 latency at concurrency 1, 8 and 32, and the
gateway's own CPU time per proxied request.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from infra.gateway.runtime import read_stack
from infra.gateway.stackfile import function_ports
from tests.runtime_support import runtime_stack

pytestmark = pytest.mark.bench
REQUESTS = 2000


async def load(url: str, count: int, concurrency: int) -> tuple[float, float, float]:
    latencies: list[float] = []
    remaining = iter(range(count))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def client():
            for _ in remaining:
                started = time.perf_counter()
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
                    await response.read()
                    assert response.status == 200
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return count / elapsed, latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def test_gateway_overhead(tmp_path):
    with runtime_stack(tmp_path) as stack:
        port = function_ports(read_stack(stack.config), stack.config.ports["functions"])["echo"]
        targets = {"direct": f"http://127.0.0.1:{port}/stats",
                   "gateway": f"{stack.config.url('gateway')}/function/echo/stats"}
        print(f"\n{'concurrency':>11} {'path':<8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}")
        for concurrency in (1, 8, 32):
            for name, url in targets.items():
                asyncio.run(load(url, 200, concurrency))  # warm the connections
                rps, p50, p99 = asyncio.run(load(url, REQUESTS, concurrency))
                print(f"{concurrency:>11} {name:<8} {rps:7.0f} {p50:7.2f} {p99:7.2f}")
        pid = int(stack.ctl("pid", "gateway").stdout)
        before = cpu_seconds(pid)
        asyncio.run(load(targets["gateway"], REQUESTS, 8))
        print(f"gateway CPU per proxied request: {(cpu_seconds(pid) - before) / REQUESTS * 1e6:.0f} us")
