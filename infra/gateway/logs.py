"""`GET /system/logs`: a function's own log, one file per replica (supervisord writes them).

A line's timestamp is the one it starts with (the template's logging format, or
of-watchdog's `2006/01/02 15:04:05`, both in local time); a line without one (a
traceback, a print) takes the timestamp of the line before it, or, first in a file,
the file's modification time. A line that arrives while following takes the time it
was read.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

from infra.gateway.types import LogRequest, log_message

FOLLOW_INTERVAL = 0.25
_STAMP = re.compile(r"(\d{4})[-/](\d\d)[-/](\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,6}))?")


def line_time(line: str) -> datetime | None:
    match = _STAMP.match(line)
    if not match:
        return None
    *parts, fraction = match.groups()
    micro = int((fraction or "0").ljust(6, "0"))
    return datetime(*map(int, parts), micro).astimezone(UTC)


def timed_lines(path: Path, text: str, previous: datetime | None = None) -> Iterator[tuple[datetime, str]]:
    stamp = previous or datetime.fromtimestamp(path.stat().st_mtime, UTC)
    for line in text.splitlines():
        stamp = line_time(line) or stamp
        yield stamp, line


class ReplicaLog:
    """One replica's log file, read from where the last read stopped."""

    def __init__(self, path: Path, instance: str):
        self.path = path
        self.instance = instance
        self.offset = 0
        self.last: datetime | None = None
        self.partial = b""

    def read_new(self, stamp_now: bool) -> list[tuple[datetime, str]]:
        try:
            size = self.path.stat().st_size
            if size < self.offset:  # rotated by supervisord: start at the new file's beginning
                self.offset = 0
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = self.partial + handle.read()
        except FileNotFoundError:
            return []
        self.offset += len(data) - len(self.partial)
        complete, newline, self.partial = data.rpartition(b"\n")
        if not newline:
            return []
        previous = datetime.now(UTC) if stamp_now else self.last
        lines = list(timed_lines(self.path, complete.decode("utf-8", "replace"), previous))
        if lines:
            self.last = lines[-1][0]
        return lines


async def stream(request: LogRequest, replica_logs: list[ReplicaLog]) -> AsyncIterator[dict]:
    """The messages the request asks for: history (since, tail), then new lines while following."""
    history = sorted(
        ((stamp, log.instance, text) for log in replica_logs for stamp, text in log.read_new(stamp_now=False)),
        key=lambda item: item[0],
    )
    if request.since is not None:
        history = [item for item in history if item[0] >= request.since]
    if request.tail >= 0:
        history = history[-request.tail:] if request.tail else []
    for stamp, instance, text in history:
        yield log_message(request.name, instance, stamp, text)
    while request.follow:
        await asyncio.sleep(FOLLOW_INTERVAL)
        for log in replica_logs:
            for stamp, text in log.read_new(stamp_now=True):
                yield log_message(request.name, log.instance, stamp, text)
