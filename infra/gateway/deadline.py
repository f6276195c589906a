"""A deadline moved on every call, without a new loop timer each time.

Each sync call moves up to three deadlines: the lane's body and next-head timeouts and
the upstream exchange's exec_timeout. A loop timer made and cancelled for each (for the
exchange, asyncio.timeout's) cost 6-8 us of CPU apiece, as much as parsing the request
head. Here moving a deadline only stores a time; the one timer behind it is set again only
when it fires before the deadline has come, or when the deadline moves before the timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

SLACK = 0.002  # the loop's timers keep milliseconds: one may fire a hair before its time


class Deadline:
    def __init__(self):
        self._when: float | None = None  # loop time; None: nothing is timed
        self._expired: Callable[[], None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def set(self, when: float, expired: Callable[[], None]) -> None:
        """`expired` runs at loop time `when`, unless the deadline is set again or cleared first."""
        if self._timer is not None and self._timer.when() > when:
            self._timer.cancel()
            self._timer = None
        self._when, self._expired = when, expired
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_at(when, self._check)

    def clear(self) -> None:
        """Nothing is timed now; the timer, should it fire, finds nothing to do."""
        self._when = self._expired = None

    def stop(self) -> None:
        """Clear, and drop the timer too (the connection is gone)."""
        self.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        if self._when is None:
            return
        loop = asyncio.get_running_loop()
        if loop.time() + SLACK < self._when:  # moved on since the timer was set
            self._timer = loop.call_at(self._when, self._check)
            return
        expired = self._expired
        self.clear()
        expired()
