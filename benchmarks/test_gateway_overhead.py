"""What the gateway adds to a call: the echo test function, direct vs through the gateway.

`make bench` prints throughput and p50/p99 latency at concurrency 1, 8 and 32, and the
gateway's own CPU time per proxied request, then PASS or MISS against the two goals
(c=1 p50 within 0.5 ms of the function's, c=8 throughput at least 90 % of it). Beside
them, three yardstick proxies that do the hop and nothing else
(benchmarks/floor_proxies.py): a bare httptools one, close to the hop alone in Python,
which splits what the gateway adds at c=1 into the hop and its own handling; a one-route
aiohttp app, what the gateway cost before its fast lane (infra/gateway/fastlane.py); and
Go's standard reverse proxy, the hop with the proxy's work compiled.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import nullcontext

import aiohttp
import pytest

from benchmarks.floor_proxies import floor_proxy
from infra.gateway.runtime import read_stack
from infra.gateway.stackfile import function_ports
from tests.process_support import cpu_seconds
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


def test_gateway_overhead(tmp_path):
    with runtime_stack(tmp_path) as stack:
        port = function_ports(read_stack(stack.config), stack.config.ports["functions"])["echo"]
        paths = {"direct": lambda: nullcontext((f"http://127.0.0.1:{port}", None)),
                 "gateway": lambda: nullcontext((stack.config.url("gateway"), int(stack.ctl("pid", "gateway").stdout)))}
        paths.update({kind: lambda kind=kind: floor_proxy(kind, port) for kind in ("aiohttp", "httptools", "go")})
        figures, cpu = {}, {}
        for name, path in paths.items():  # one at a time: their pools together pass the function's 100 connections
            with path() as (base, pid):
                url = f"{base}/stats" if pid is None else f"{base}/function/echo/stats"
                for concurrency in (1, 8, 32):
                    asyncio.run(load(url, 200, concurrency))  # warm the connections
                    figures[concurrency, name] = asyncio.run(load(url, REQUESTS, concurrency))
                if pid is not None:
                    cpu[name] = cpu_per_request(url, pid)
        print(f"\n{'concurrency':>11} {'path':<9} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}")
        for (concurrency, name), (rps, p50, p99) in sorted(figures.items(), key=lambda item: item[0][0]):
            print(f"{concurrency:>11} {name:<9} {rps:7.0f} {p50:7.2f} {p99:7.2f}")
        print(f"CPU per proxied request at c=8: gateway {cpu['gateway']:.0f} us, "
              f"aiohttp yardstick {cpu['aiohttp']:.0f} us, httptools yardstick {cpu['httptools']:.0f} us, "
              f"Go yardstick {cpu['go']:.0f} us")
        print_split(figures)
        print_verdicts(figures)


def cpu_per_request(url: str, pid: int) -> float:
    before = cpu_seconds(pid)
    asyncio.run(load(url, REQUESTS, 8))
    return (cpu_seconds(pid) - before) / REQUESTS * 1e6


def print_split(figures: dict) -> None:
    """What the gateway adds to the c=1 p50 against the yardsticks (medians of one run: read them as rough)."""
    direct, bare, aio, go, ours = (figures[1, name][1] for name in ("direct", "httptools", "aiohttp", "go", "gateway"))
    print(f"c=1 p50 added: the hop {bare - direct:+.2f} ms (httptools yardstick), the gateway's own handling "
          f"{ours - bare:+.2f} ms; a one-route aiohttp app adds {aio - direct:+.2f} ms in all, "
          f"Go's reverse proxy {go - direct:+.2f} ms")


def verdict(met: bool) -> str:
    return "PASS" if met else "MISS"


def print_verdicts(figures: dict) -> None:
    """The goals of issue #16, as figures: this benchmark reports, it does not fail on speed."""
    added = figures[1, "gateway"][1] - figures[1, "direct"][1]
    share = figures[8, "gateway"][0] / figures[8, "direct"][0]
    print(f"{verdict(added <= 0.5)} c=1 p50 through the gateway {added:+.2f} ms over the function's (goal <= +0.50)")
    print(f"{verdict(share >= 0.9)} c=8 throughput through the gateway {share:.1%} of the function's (goal >= 90%)")
