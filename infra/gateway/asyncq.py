"""`/async-function`: what an accepted call is, and when a failed run is retried.

The queue itself is NATS JetStream (natsq.py). A run that fails is retried after a
back-off, as OpenFaaS's queue-worker does: each
function's RetryPolicy comes from its `com.openfaas.retry.*` annotations in stack.yml
(attempts, codes, min_wait, max_wait), else from the GATEWAY_ASYNC_* settings (any 5xx
or unreachable function, GATEWAY_RETRY_DELAY doubling up to GATEWAY_RETRY_MAX_WAIT).
The last outcome is what the callback receives, with the headers the queue-worker sends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

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


def new_call(call_id: str, function: str, method: str, path: str, query: str, headers: list[tuple[str, str]],
             body: bytes, callback_url: str | None) -> dict:
    return {
        "id": call_id,
        "function": function,
        "method": method,
        "path": path,
        "query": query,
        "headers": [list(pair) for pair in headers],
        "callback_url": callback_url,
        "accepted_at": time.time(),
        "body": body,
    }
