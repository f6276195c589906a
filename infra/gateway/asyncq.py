"""`/async-function`: accepted calls persisted on disk, run by a bounded worker pool.

Each accepted call is one JSON file in the queue directory, written (and fsynced)
before the gateway answers 202, and deleted only once its outcome has been reported to
the caller's X-Callback-Url (or logged when there is none). A gateway that dies picks
the files up again when it starts, so every accepted call runs at least once; a call
that was in flight when the gateway died runs again.

A run that fails (status 5xx, function unreachable) is retried after a back-off
(retry_delay, doubled each time) up to max_attempts runs in all; the last outcome is
what the callback receives, with the headers OpenFaaS's queue-worker sends.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("gateway.async")


@dataclass(frozen=True)
class Outcome:
    status: int
    headers: dict[str, str]
    body: bytes
    duration: float


Invoke = Callable[[dict], Awaitable[Outcome]]
Report = Callable[[dict, Outcome], Awaitable[None]]


def new_call(function: str, method: str, path: str, query: str, headers: list[tuple[str, str]],
             body: bytes, callback_url: str | None, call_id: str | None = None) -> dict:
    return {
        "id": call_id or str(uuid.uuid4()),
        "function": function,
        "method": method,
        "path": path,
        "query": query,
        "headers": [list(pair) for pair in headers],
        "body": base64.b64encode(body).decode("ascii"),
        "callback_url": callback_url,
        "attempts": 0,
        "accepted_at": time.time(),
    }


def call_body(call: dict) -> bytes:
    return base64.b64decode(call["body"])


class CallQueue:
    def __init__(self, directory: Path, invoke: Invoke, report: Report, *, workers: int,
                 max_attempts: int, retry_delay: float):
        self.directory = directory
        self.invoke = invoke
        self.report = report
        self.workers = workers
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self._pending: asyncio.Queue[Path] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for leftover in self.directory.glob("*.tmp"):
            leftover.unlink()  # never acknowledged with a 202: the caller saw an error
        recovered = sorted(self.directory.glob("*.json"))
        for path in recovered:
            self._pending.put_nowait(path)
        if recovered:
            log.info("recovered %d accepted call(s) from %s", len(recovered), self.directory)
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def accept(self, call: dict) -> None:
        """Persist the call, then queue it; returns only once it is on disk."""
        path = self.directory / f"{time.time_ns():020d}-{call['id']}.json"
        self._write(path, call)
        self._pending.put_nowait(path)

    def depth(self) -> int:
        return len(list(self.directory.glob("*.json")))

    def _write(self, path: Path, call: dict) -> None:
        temporary = path.with_suffix(".tmp")
        with open(temporary, "w") as handle:
            json.dump(call, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    async def _work(self) -> None:
        while True:
            path = await self._pending.get()
            try:
                await self._run(path)
            except (OSError, ValueError) as exc:  # a damaged queue file: keep it aside for a look
                log.error("cannot run queued call %s (%s); moved aside as .bad", path.name, exc)
                if path.exists():
                    path.replace(path.with_suffix(".bad"))

    async def _run(self, path: Path) -> None:
        call = json.loads(path.read_text())
        outcome = await self.invoke(call)
        call["attempts"] += 1
        if outcome.status >= 500 and call["attempts"] < self.max_attempts:
            self._write(path, call)
            delay = self.retry_delay * 2 ** (call["attempts"] - 1)
            log.warning("%s %s answered %d (run %d of %d); retrying in %.2fs", call["function"], call["id"],
                        outcome.status, call["attempts"], self.max_attempts, delay)
            asyncio.get_running_loop().call_later(delay, self._pending.put_nowait, path)
            return
        await self.report(call, outcome)
        path.unlink(missing_ok=True)
