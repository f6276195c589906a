"""`/async-function`: accepted calls persisted on disk, run by a bounded worker pool.

Each accepted call is one JSON file in the queue directory, written (and fsynced)
before the gateway answers 202, and deleted only once its outcome has been reported to
the caller's X-Callback-Url (or logged when there is none). A gateway that dies picks
the files up again when it starts, so every accepted call runs at least once; a call
that was in flight when the gateway died runs again.

A run that fails is retried after a back-off, as OpenFaaS's queue-worker does: each
function's RetryPolicy comes from its `com.openfaas.retry.*` annotations in stack.yml
(attempts, codes, min_wait, max_wait), else from the GATEWAY_ASYNC_* settings (any 5xx
or unreachable function, GATEWAY_RETRY_DELAY doubling up to GATEWAY_RETRY_MAX_WAIT).
The last outcome is what the callback receives, with the headers the queue-worker sends.
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
from dataclasses import dataclass, replace
from pathlib import Path

from infra.gateway.stackfile import parse_duration
from shared.errors import ConfigError

log = logging.getLogger("gateway.async")

RETRY_ANNOTATION = "com.openfaas.retry."
# an annotation cannot keep a call queued for ever: at most this many runs, this long between two
ATTEMPTS_LIMIT = 100
WAIT_LIMIT = 300.0


@dataclass(frozen=True)
class Outcome:
    status: int
    headers: dict[str, str]
    body: bytes
    duration: float


Invoke = Callable[[dict], Awaitable[Outcome]]
Report = Callable[[dict, Outcome], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int  # runs in all, the first included
    min_wait: float  # seconds before the first retry, doubled for each later one
    max_wait: float  # the longest wait between two runs
    codes: frozenset[int] | None = None  # statuses retried; None: any 5xx

    def retries(self, status: int, runs_so_far: int) -> bool:
        retryable = status >= 500 if self.codes is None else status in self.codes
        return retryable and runs_so_far < self.attempts

    def wait(self, runs_so_far: int) -> float:
        return min(self.max_wait, self.min_wait * 2 ** min(runs_so_far - 1, 30))


PolicyFor = Callable[[str], RetryPolicy]


def policy_from_annotations(annotations: dict[str, str], default: RetryPolicy) -> RetryPolicy:
    """`default` overridden by each valid `com.openfaas.retry.*` annotation; an invalid one is ignored (logged)."""
    parsers = {"attempts": ("attempts", _attempts), "codes": ("codes", _codes),
               "min_wait": ("min_wait", _wait), "max_wait": ("max_wait", _wait)}
    found = {}
    for suffix, (field, parse) in parsers.items():
        raw = annotations.get(RETRY_ANNOTATION + suffix)
        if raw is None:
            continue
        try:
            found[field] = parse(raw)
        except (ValueError, ConfigError):
            log.warning("ignoring annotation %s%s=%r: not valid", RETRY_ANNOTATION, suffix, raw)
    return replace(default, **found)


def _attempts(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= ATTEMPTS_LIMIT:
        raise ValueError(raw)
    return value


def _codes(raw: str) -> frozenset[int]:
    codes = frozenset(int(code) for code in raw.replace(",", " ").split())
    if not codes or not all(400 <= code <= 599 for code in codes):
        raise ValueError(raw)
    return codes


def _wait(raw: str) -> float:
    return min(parse_duration(raw), WAIT_LIMIT)


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
    def __init__(self, directory: Path, invoke: Invoke, report: Report, *, workers: int, policy_for: PolicyFor):
        self.directory = directory
        self.invoke = invoke
        self.report = report
        self.workers = workers
        self.policy_for = policy_for
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
        policy = self.policy_for(call["function"])
        if policy.retries(outcome.status, call["attempts"]):
            self._write(path, call)
            delay = policy.wait(call["attempts"])
            log.warning("%s %s answered %d (run %d of %d); retrying in %.2fs", call["function"], call["id"],
                        outcome.status, call["attempts"], policy.attempts, delay)
            asyncio.get_running_loop().call_later(delay, self._pending.put_nowait, path)
            return
        await self.report(call, outcome)
        path.unlink(missing_ok=True)
