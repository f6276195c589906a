"""The fast lane's own answers, on a loopback socket, in front of a stand-in for the gateway.

The stand-in's `proxy` fails or waits as each test needs; the lane's parsing, answers and
shutdown are the real ones (tests/test_gateway_fastlane.py runs the lane in a real gateway).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace

from aiohttp import web

from infra.gateway.fastlane import FastLaneSite
from infra.gateway.replicas import ProcessControlUnavailable

CALL = b"GET /function/echo HTTP/1.1\r\nHost: x\r\n\r\n"


class StandInGateway:
    def __init__(self, proxy, header_timeout: float = 5.0):
        self._proxy = proxy
        self.settings = SimpleNamespace(header_timeout=header_timeout, body_timeout=5.0, max_body_bytes=1024)

    def resolve(self, name: str):
        return SimpleNamespace(name=name) if name == "echo" else None

    async def proxy(self, function, method, raw_path, headers, client, host, body):
        return await self._proxy()


async def serve(proxy, header_timeout: float = 5.0) -> tuple[web.AppRunner, FastLaneSite]:
    runner = web.AppRunner(web.Application(), handle_signals=False)
    await runner.setup()
    site = FastLaneSite(runner, StandInGateway(proxy, header_timeout), "127.0.0.1", 0)
    await site.start()
    return runner, site


def port_of(runner: web.AppRunner) -> int:
    return runner.addresses[0][1]


def lane_answer(proxy) -> bytes:
    """What the lane sends to one call that asks to close the connection after it, until it does."""
    async def run():
        runner, site = await serve(proxy)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(runner))
            writer.write(CALL.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
            answer = await asyncio.wait_for(reader.read(), timeout=10)
            writer.close()
            return answer
        finally:
            await runner.cleanup()

    return asyncio.run(run())


def test_scaling_from_zero_without_process_control_answers_503_naming_the_fix():
    async def proxy():
        raise ProcessControlUnavailable(Path("/nowhere/supervisor.sock"), "is not reachable (No such file)")

    answer = lane_answer(proxy)
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert answer.endswith(b"process control is unavailable: supervisord at /nowhere/supervisor.sock "
                           b"is not reachable (No such file) (run the stack with `make up`)\n")


def test_a_bug_in_the_call_answers_a_bare_500_and_is_logged(caplog):
    async def proxy():
        raise KeyError("secret detail")

    with caplog.at_level(logging.ERROR, logger="gateway"):
        answer = lane_answer(proxy)
    assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert answer.endswith(b"\r\n\r\n500 Internal Server Error\n") and b"secret" not in answer
    assert "fast lane: GET /function/echo failed" in caplog.text and "secret detail" in caplog.text


def test_shutdown_lets_a_call_under_way_answer_and_closes_idle_connections():
    release = asyncio.Event()

    async def proxy():
        await release.wait()
        return 200, [("Content-Type", "text/plain")], b"finished"

    async def run():
        runner, site = await serve(proxy)
        port = port_of(runner)
        idle_reader, _ = await asyncio.open_connection("127.0.0.1", port)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(CALL)  # keep-alive asked for
        while not any(lane.busy for lane in site.lanes):
            await asyncio.sleep(0.01)
        cleanup = asyncio.ensure_future(runner.cleanup())
        idle_end = await asyncio.wait_for(idle_reader.read(), timeout=5)
        await asyncio.sleep(0.2)
        still_waiting = not cleanup.done()
        release.set()
        answer = await asyncio.wait_for(reader.read(), timeout=5)
        await asyncio.wait_for(cleanup, timeout=5)
        return idle_end, still_waiting, answer

    idle_end, still_waiting, answer = asyncio.run(run())
    assert idle_end == b""  # closed without an answer: it had asked for nothing
    assert still_waiting
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nConnection: close\r\n" in answer and answer.endswith(b"finished")


def test_a_kept_alive_connection_closes_a_head_timeout_after_its_last_answer():
    async def proxy():
        return 200, [("Content-Type", "text/plain")], b"ok"

    async def run():
        runner, _ = await serve(proxy, header_timeout=0.4)
        loop = asyncio.get_running_loop()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(runner))
            opened = loop.time()
            for _ in range(6):  # a call every 0.15 s for 0.9 s: each answer moves the deadline on
                writer.write(CALL)
                answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
                assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
                await reader.readexactly(2)
                await asyncio.sleep(0.15)
            last_answer = loop.time() - 0.15
            end = await asyncio.wait_for(reader.read(), timeout=5)
            return end, loop.time() - opened, loop.time() - last_answer
        finally:
            await runner.cleanup()

    end, open_for, idle_for = asyncio.run(run())
    assert end == b""  # closed without a word
    assert open_for > 0.9  # not at the first deadline, which the calls moved
    assert 0.35 <= idle_for < 1.5, f"closed {idle_for:.2f} s after its last answer"
