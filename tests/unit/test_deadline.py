"""The gateway's movable deadline (infra/gateway/deadline.py), on a real event loop."""

from __future__ import annotations

import asyncio

from infra.gateway.deadline import Deadline


def expiries(script) -> list[float]:
    """Run `script(deadline, loop)`; the loop times (from its start) at which the deadline expired."""
    async def run():
        loop = asyncio.get_running_loop()
        start, fired = loop.time(), []
        deadline = Deadline()
        await script(deadline, lambda seconds: start + seconds, lambda: fired.append(loop.time() - start))
        await asyncio.sleep(0.6)
        deadline.stop()
        return fired

    return asyncio.run(run())


def test_it_expires_once_at_its_time():
    async def script(deadline, at, expired):
        deadline.set(at(0.1), expired)

    [fired] = expiries(script)
    assert 0.09 <= fired < 0.3


def test_moved_later_it_expires_at_the_new_time_only():
    async def script(deadline, at, expired):
        deadline.set(at(0.1), expired)
        await asyncio.sleep(0.05)
        deadline.set(at(0.3), expired)

    [fired] = expiries(script)
    assert 0.29 <= fired < 0.5


def test_moved_earlier_it_expires_at_the_new_time():
    async def script(deadline, at, expired):
        deadline.set(at(0.5), expired)
        deadline.set(at(0.1), expired)

    [fired] = expiries(script)
    assert 0.09 <= fired < 0.3


def test_cleared_or_stopped_it_does_not_expire():
    async def cleared(deadline, at, expired):
        deadline.set(at(0.1), expired)
        deadline.clear()

    async def stopped(deadline, at, expired):
        deadline.set(at(0.1), expired)
        deadline.stop()

    assert expiries(cleared) == []
    assert expiries(stopped) == []
