"""`/async-function` on NATS JetStream: accepted calls in a stream, run by the gateway's workers.

The gateway publishes each accepted call to the work-queue stream `faas-request` (the
name OpenFaaS's queue-worker uses) and answers 202 only once JetStream has stored it;
the stream's limits (GATEWAY_QUEUE_MAX_CALLS, GATEWAY_QUEUE_MAX_BYTES, discard new) turn
a full queue into a refused publish, which the gateway answers 429. Workers pull one
call at a time from the durable consumer `faas-workers`: JetStream redelivers a call
whose worker went quiet for GATEWAY_ACK_WAIT seconds (a worker keeps it with
in-progress acks while the function runs), at most ATTEMPTS_LIMIT times. A failed run is
naked with the function's retry back-off as the redelivery delay; the final outcome goes
to the callback in a task of its own (a slow receiver holds no worker), and the call is
acknowledged, and so removed from the stream, only once that callback is done. So a
call accepted with a 202 runs at least once whoever dies, and a call in flight when the
gateway died runs again.

One message is the call's JSON (asyncq.new_call, without the body), a newline, then the
body's bytes as sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from infra.gateway.asyncq import ATTEMPTS_LIMIT, Invoke, Outcome, PolicyFor, Report
from shared.errors import ServiceUnavailable

log = logging.getLogger("gateway.async")

STREAM = "faas-request"
SUBJECT = "faas-request"
CONSUMER = "faas-workers"
USER = "gateway"  # the one NATS user, its password the `nats-password` secret
# how JetStream says that the stream's limits (discard new) or the server's store refuse a publish
FULL = ("maximum messages exceeded", "maximum bytes exceeded", "insufficient resources")
FETCH_WAIT = 5.0  # seconds one pull waits for a call before it asks again

T = TypeVar("T")


class QueueRefused(Exception):
    """A call the queue cannot take: `status` is the gateway's answer, `message` says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class QueueSettings:
    url: str
    password: str
    max_calls: int
    max_bytes: int
    ack_wait: float
    workers: int
    callbacks_at_once: int


def encode(call: dict) -> bytes:
    meta = {key: value for key, value in call.items() if key != "body"}
    return json.dumps(meta).encode() + b"\n" + call["body"]


def decode(data: bytes) -> dict:
    meta, _, body = data.partition(b"\n")
    call = json.loads(meta)
    if not isinstance(call, dict) or "function" not in call:
        raise ValueError("not a call")
    return {**call, "body": body}


async def _client_once(url: str, password: str) -> nats.NATS:
    """A connection for one question (a probe, a test): no reconnecting, NoServersError after two refusals.

    nats-py reads max_reconnect_attempts=0 as "retry for ever", also on the first connect.
    """
    return await nats.connect(url, user=USER, password=password, connect_timeout=3, allow_reconnect=False,
                              max_reconnect_attempts=1, reconnect_time_wait=0.2, error_cb=_ignore)


async def _ignore(_error: Exception) -> None:
    """The caller reports the failure; nats-py's default would log a traceback per refused attempt."""


async def check(url: str, password: str) -> None:
    """A readiness probe: NATS answers and JetStream is on; ServiceUnavailable otherwise."""
    try:
        client = await _client_once(url, password)
    except (nats.errors.Error, OSError) as exc:
        raise ServiceUnavailable(f"NATS at {url} is not answering ({type(exc).__name__})") from None
    try:
        await client.jetstream(timeout=3).account_info()
    except nats.errors.Error as exc:
        raise ServiceUnavailable(f"NATS at {url} has no JetStream ({type(exc).__name__})") from None
    finally:
        await client.close()


async def queued(url: str, password: str) -> int:
    """Calls in the stream (waiting, running, waiting to retry or for their callback), on a connection of its own."""
    client = await _client_once(url, password)
    try:
        return (await client.jetstream(timeout=5).stream_info(STREAM)).state.messages
    finally:
        await client.close()


class JetStreamQueue:
    def __init__(self, settings: QueueSettings, invoke: Invoke, report: Report, policy_for: PolicyFor):
        self.settings = settings
        self.invoke = invoke
        self.report = report
        self.policy_for = policy_for
        self._client: nats.NATS | None = None
        self._tasks: list[asyncio.Task] = []
        self._callbacks: set[asyncio.Task] = set()
        self._callback_slots = asyncio.Semaphore(settings.callbacks_at_once)

    async def start(self) -> None:
        self._client = await nats.connect(self.settings.url, user=USER, password=self.settings.password, name="gateway",
                                          connect_timeout=5, max_reconnect_attempts=-1, reconnect_time_wait=0.5)
        self._js = self._client.jetstream(timeout=5)
        await self._ensure_stream()
        await self._js.add_consumer(STREAM, ConsumerConfig(
            name=CONSUMER, durable_name=CONSUMER, ack_policy=AckPolicy.EXPLICIT, ack_wait=self.settings.ack_wait,
            max_deliver=ATTEMPTS_LIMIT, max_ack_pending=self.settings.max_calls, filter_subject=SUBJECT,
        ))
        self._subscription = await self._js.pull_subscribe_bind(durable=CONSUMER, stream=STREAM)
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self.settings.workers)]

    async def _ensure_stream(self) -> None:
        config = StreamConfig(
            name=STREAM, subjects=[SUBJECT], retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE,
            max_msgs=self.settings.max_calls, max_bytes=self.settings.max_bytes, discard=DiscardPolicy.NEW,
            num_replicas=1,
        )
        try:
            await self._js.update_stream(config)  # the limits may have changed since the last start
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(config)

    async def stop(self) -> None:
        """Stop working; calls not yet acknowledged stay in the stream for the next start."""
        tasks = [*self._tasks, *self._callbacks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            try:
                await self._client.close()
            except (nats.errors.Error, RuntimeError):  # nats-server went first (RuntimeError: nats-py on uvloop)
                pass

    async def accept(self, call: dict) -> None:
        """Store the call in the stream; returns once JetStream has it, else raises QueueRefused."""
        data = encode(call)
        if len(data) > self._client.max_payload:
            raise QueueRefused(413, f"async call too large: {len(data)} bytes with its headers, "
                                    f"the queue takes at most {self._client.max_payload} (NATS_MAX_PAYLOAD)")
        try:
            await self._js.publish(SUBJECT, data, stream=STREAM)
        except nats.js.errors.APIError as exc:
            if exc.description in FULL:
                raise QueueRefused(429, f"async queue is full ({exc.description}): try again later") from None
            raise QueueRefused(503, f"async queue refused the call ({exc.description})") from None
        except nats.errors.Error as exc:
            raise QueueRefused(503, f"async queue is not available ({type(exc).__name__})") from None

    async def _work(self) -> None:
        while True:
            try:
                messages = await self._subscription.fetch(1, timeout=FETCH_WAIT)
            except nats.errors.TimeoutError:
                continue
            except nats.errors.Error as exc:  # NATS restarting: the client reconnects by itself
                log.warning("cannot fetch from the async queue (%s); trying again", type(exc).__name__)
                await asyncio.sleep(1)
                continue
            for message in messages:
                try:
                    await self._run(message)
                except nats.errors.Error as exc:  # the ack was lost: JetStream redelivers the call
                    log.warning("async queue lost touch with a call (%s); it will be redelivered", type(exc).__name__)

    async def _run(self, message: Msg) -> None:
        try:
            call = decode(message.data)
        except ValueError:
            log.error("dropping message %d of %s: not a call", message.metadata.sequence.stream, STREAM)
            await message.term()
            return
        runs = message.metadata.num_delivered
        outcome = await self._keeping(message, self.invoke(call))
        policy = self.policy_for(call["function"])
        if policy.retries(outcome.status, runs):
            delay = policy.wait(runs)
            log.warning("%s %s answered %d (run %d of %d); retrying in %.2fs", call["function"], call["id"],
                        outcome.status, runs, policy.attempts, delay)
            await message.nak(delay=delay)
            return
        call["attempts"] = runs
        task = asyncio.create_task(self._report_then_ack(message, call, outcome))
        self._callbacks.add(task)
        task.add_done_callback(self._callbacks.discard)

    async def _report_then_ack(self, message: Msg, call: dict, outcome: Outcome) -> None:
        async def report_in_turn() -> None:
            async with self._callback_slots:
                await self.report(call, outcome)

        try:
            await self._keeping(message, report_in_turn())
            await message.ack()
        except nats.errors.Error as exc:
            log.warning("could not acknowledge %s (%s); it will run again", call["id"], type(exc).__name__)

    async def _keeping(self, message: Msg, work: Awaitable[T]) -> T:
        """Await `work`, telling JetStream the call is in progress so that it is not redelivered meanwhile."""
        task = asyncio.ensure_future(work)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.settings.ack_wait / 3)
                if done:
                    return task.result()
                await message.in_progress()
        finally:
            task.cancel()
