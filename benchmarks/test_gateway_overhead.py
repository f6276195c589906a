"""What the gateway adds to a call: the echo test function, direct vs through the gateway.

`make bench` prints throughput and p50/p99 latency at concurrency 1, 8 and 32, and the
gateway's own CPU time per proxied request, then PASS or MISS against the two goals
(c=1 p50 within 0.5 ms of the function's, c=8 throughput at least 90 % of it). Beside
them, two yardstick proxies with the gateway's upstream pool and nothing else
(benchmarks/floor_proxies.py): a bare httptools one, close to the hop alone, which
splits what the gateway adds at c=1 into the hop and its own handling; and a one-route
aiohttp app, what the gateway cost before its fast lane (infra/gateway/fastlane.py).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager

import aiohttp
import pytest

from infra.gateway.runtime import read_stack
from infra.gateway.stackfile import function_ports
from tests.predict_support import free_port, wait_for_port
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


@contextmanager
def floor_proxy(kind: str, function_port: int):
    """A yardstick proxy in front of the function; yields (its base URL, its pid)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.floor_proxies", kind, str(port), str(function_port)])
    try:
        wait_for_port(port, 30, process)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(10)


def test_gateway_overhead(tmp_path):
    with runtime_stack(tmp_path) as stack, ExitStack() as floors:
        port = function_ports(read_stack(stack.config), stack.config.ports["functions"])["echo"]
        pids = {"gateway": int(stack.ctl("pid", "gateway").stdout)}
        targets = {"direct": f"http://127.0.0.1:{port}/stats",
                   "gateway": f"{stack.config.url('gateway')}/function/echo/stats"}
        for kind in ("aiohttp", "httptools"):
            base, pids[kind] = floors.enter_context(floor_proxy(kind, port))
            targets[kind] = f"{base}/function/echo/stats"
        print(f"\n{'concurrency':>11} {'path':<9} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}")
        figures = {}
        for concurrency in (1, 8, 32):
            for name, url in targets.items():
                asyncio.run(load(url, 200, concurrency))  # warm the connections
                rps, p50, p99 = figures[concurrency, name] = asyncio.run(load(url, REQUESTS, concurrency))
                print(f"{concurrency:>11} {name:<9} {rps:7.0f} {p50:7.2f} {p99:7.2f}")
        cpu = {name: cpu_per_request(targets[name], pid) for name, pid in pids.items()}
        print(f"CPU per proxied request at c=8: gateway {cpu['gateway']:.0f} us, "
              f"aiohttp yardstick {cpu['aiohttp']:.0f} us, httptools yardstick {cpu['httptools']:.0f} us")
        print_split(figures)
        print_verdicts(figures)


def cpu_per_request(url: str, pid: int) -> float:
    before = cpu_seconds(pid)
    asyncio.run(load(url, REQUESTS, 8))
    return (cpu_seconds(pid) - before) / REQUESTS * 1e6


def print_split(figures: dict) -> None:
    """What the gateway adds to the c=1 p50 against the yardsticks (medians of one run: read them as rough)."""
    direct, bare, aio, ours = (figures[1, name][1] for name in ("direct", "httptools", "aiohttp", "gateway"))
    print(f"c=1 p50 added: the hop {bare - direct:+.2f} ms (httptools yardstick), the gateway's own handling "
          f"{ours - bare:+.2f} ms; a one-route aiohttp app adds {aio - direct:+.2f} ms in all")


def verdict(met: bool) -> str:
    return "PASS" if met else "MISS"


def print_verdicts(figures: dict) -> None:
    """The goals of issue #16, as figures: this benchmark reports, it does not fail on speed."""
    added = figures[1, "gateway"][1] - figures[1, "direct"][1]
    share = figures[8, "gateway"][0] / figures[8, "direct"][0]
    print(f"{verdict(added <= 0.5)} c=1 p50 through the gateway {added:+.2f} ms over the function's (goal <= +0.50)")
    print(f"{verdict(share >= 0.9)} c=8 throughput through the gateway {share:.0%} of the function's (goal >= 90%)")
