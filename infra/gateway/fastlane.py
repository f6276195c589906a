"""The fast lane: plain sync calls to `/function/<name>` answered without aiohttp's server.

Of what the gateway added to a call at concurrency 1, aiohttp's request and response
objects and the handler chain were about half (the yardsticks in
benchmarks/test_gateway_overhead.py). Every connection starts here. The lane serves a
request whose head is complete, HTTP/1.1, at most MAX_HEAD bytes, for a function in the
stack, with a method other than HEAD, no Transfer-Encoding, Content-Encoding, Expect or
Upgrade, and a Content-Length (if any) within GATEWAY_MAX_BODY_BYTES. On anything else,
and on any head the parser refuses, the connection passes to aiohttp for good, with
every byte not yet answered, and is served as before (routes.py, edges.py).

The lane keeps the edge's limits: the head must come within GATEWAY_HEADER_TIMEOUT of
the connection opening or of the last answer, or the connection is closed, and a body
must arrive within GATEWAY_BODY_TIMEOUT (408). The call itself is `Gateway.proxy`,
the same as aiohttp's route uses. At shutdown the site stops listening, closes idle
lane connections and waits (up to SHUTDOWN_SECONDS) for calls under way,
whose answers then say `Connection: close`, as aiohttp does for its own connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus

import httptools
import uvloop
from aiohttp import web

from infra.gateway.deadline import Deadline
from infra.gateway.edges import SERVER_NAME, body_late
from infra.gateway.replicas import ProcessControlUnavailable
from infra.gateway.stackfile import Function

MAX_HEAD = 8190  # aiohttp's own line limit: a longer head is aiohttp's to refuse
LANE_METHODS = frozenset(("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
NOT_IN_LANE = frozenset(("transfer-encoding", "content-encoding", "expect", "upgrade"))
DECIDING = NOT_IN_LANE | {"content-length", "connection", "host"}  # the headers the lane reads
NO_BODY_STATUSES = frozenset((204, 304))
SHUTDOWN_SECONDS = 15.0  # calls under way may finish; supervisord kills at 20 (stopwaitsecs)
TEXT = [("Content-Type", "text/plain; charset=utf-8")]

log = logging.getLogger("gateway")


@dataclass
class LaneRequest:
    function: Function
    method: str
    raw_path: str
    headers: list[tuple[str, str]]
    host: str | None
    length: int
    keep_alive: bool


class _Head:
    """httptools' callbacks for one request head; the names the lane decides by are lowered once, here."""

    def __init__(self):
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.deciding: dict[str, list[str]] = {}  # lowered name -> its values, for DECIDING's names

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        pair = (name.decode("latin-1"), value.decode("latin-1"))
        self.headers.append(pair)
        lowered = pair[0].lower()
        if lowered in DECIDING:
            self.deciding.setdefault(lowered, []).append(pair[1])


def lane_request(gateway, head_bytes: bytes, max_body: int) -> LaneRequest | None:
    """The request if the lane serves it, else None (aiohttp will)."""
    head = _Head()
    parser = httptools.HttpRequestParser(head)
    try:
        parser.feed_data(head_bytes)
    except httptools.HttpParserError:
        return None
    method = parser.get_method().decode()
    path = head.url.decode("latin-1")
    if method not in LANE_METHODS or parser.get_http_version() != "1.1" or not path.startswith("/function/"):
        return None
    deciding = head.deciding
    lengths = deciding.get("content-length", ())
    if not NOT_IN_LANE.isdisjoint(deciding) or len(lengths) > 1 or (lengths and not lengths[0].isdigit()):
        return None
    length = int(lengths[0]) if lengths else 0
    name = path[len("/function/"):].partition("/")[0].partition("?")[0]
    function = gateway.resolve(name) if name and "%" not in name else None
    if function is None or length > max_body:
        return None
    tokens = {token.strip().lower() for value in deciding.get("connection", ()) for token in value.split(",")}
    host = deciding["host"][0] if "host" in deciding else None
    return LaneRequest(function, method, path, head.headers, host, length, "close" not in tokens)


class _Date:
    """The Date header, formatted once a second."""

    second, text = -1, ""

    @classmethod
    def now(cls, loop: asyncio.AbstractEventLoop) -> str:
        second = int(loop.time())
        if second != cls.second:
            cls.second, cls.text = second, formatdate(usegmt=True)
        return cls.text


def answer_parts(status: int, headers: list[tuple[str, str]], body: bytes, keep_alive: bool,
                 date: str) -> tuple[bytes, bytes]:
    """The answer's head and body, written together without joining them (a 1,000-row answer is ~140 KB)."""
    names = {name.lower() for name, _ in headers}
    fields = [f"{name}: {value}\r\n" for name, value in headers if name.lower() != "server"]
    if "content-type" not in names:
        fields.append("Content-Type: application/octet-stream\r\n")  # as aiohttp's Response says
    if "date" not in names:
        fields.append(f"Date: {date}\r\n")
    fields.append(f"Server: {SERVER_NAME}\r\n")
    if status in NO_BODY_STATUSES or status < 200:
        body = b""
    else:
        fields.append(f"Content-Length: {len(body)}\r\n")
    if not keep_alive:
        fields.append("Connection: close\r\n")
    return f"{status_line(status)}{''.join(fields)}\r\n".encode("latin-1", "replace"), body


@functools.cache  # a status is three digits, so at most 900 lines are kept
def status_line(status: int) -> str:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    return f"HTTP/1.1 {status} {reason}\r\n"


class FastLane(asyncio.Protocol):
    def __init__(self, gateway, aiohttp_server: web.Server, lanes: set[FastLane]):
        self.gateway = gateway
        self.settings = gateway.settings
        self.aiohttp_server = aiohttp_server
        self.lanes = lanes  # the site's open lane connections, for its shutdown
        self.closing = False
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.pending: tuple[LaneRequest, int, int] | None = None  # a request whose body is on its way
        self.busy = False
        self.paused = False
        self.call: asyncio.Future | None = None
        self.deadline = Deadline()

    # --- asyncio.Protocol ---
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.lanes.add(self)
        self._arm(self.settings.header_timeout, self.transport.close)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.busy:
            if len(self.buffer) > MAX_HEAD + self.settings.max_body_bytes and not self.paused:
                self.transport.pause_reading()  # a client sending ahead of its answers waits
                self.paused = True
            return
        self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lanes.discard(self)
        self.deadline.stop()

    # --- requests ---
    def _next(self) -> None:
        if self.pending is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD or b"\n\n" in self.buffer:  # too long, or bare LF line ends
                    self._hand_over()
                return  # the head's deadline runs
            request = lane_request(self.gateway, bytes(self.buffer[:end + 4]), self.settings.max_body_bytes)
            if request is None:
                self._hand_over()
                return
            self.pending = (request, end + 4, end + 4 + request.length)
            if len(self.buffer) < end + 4 + request.length:  # the body is still on its way
                self._arm(self.settings.body_timeout, self._body_late)
        request, body_start, total = self.pending
        if len(self.buffer) < total:
            return
        with memoryview(self.buffer) as view:
            body = bytes(view[body_start:total])  # one copy, not a slice's and then bytes'
        del self.buffer[:total]
        self.pending = None
        self.deadline.clear()
        self.busy = True
        self.call = asyncio.ensure_future(self._answer(request, body))  # held: the loop keeps only weak ones

    async def _answer(self, request: LaneRequest, body: bytes) -> None:
        peer = self.transport.get_extra_info("peername")
        try:
            status, headers, payload = await self.gateway.proxy(
                request.function, request.method, request.raw_path, request.headers, peer[0] if peer else None,
                request.host, body)
        except ProcessControlUnavailable as exc:  # scaling from zero could not start it: as routes.py answers
            status, headers, payload = 503, TEXT, f"{exc.message}\n".encode()
        except Exception:  # a bug: logged here, and the client gets a 500 as aiohttp would give it
            log.exception("fast lane: %s %s failed", request.method, request.raw_path)
            status, headers, payload = 500, TEXT, b"500 Internal Server Error\n"
        if self.transport.is_closing():
            return
        keep_alive = request.keep_alive and not self.closing
        date = _Date.now(asyncio.get_running_loop())
        self.transport.writelines(answer_parts(status, headers, payload, keep_alive, date))
        if not keep_alive:
            self.transport.close()
            return
        self.busy = False
        if self.paused:
            self.paused = False
            self.transport.resume_reading()
        self._arm(self.settings.header_timeout, self.transport.close)
        if self.buffer:
            self._next()

    def _body_late(self) -> None:
        message = body_late(self.settings).encode()
        self.transport.writelines(answer_parts(408, TEXT, message, False, _Date.now(asyncio.get_running_loop())))
        self.transport.close()

    def close_when_idle(self) -> None:
        """Shutdown: an idle connection closes now, one with a call under way after its answer."""
        self.closing = True
        if not self.busy:
            self.transport.close()

    def _hand_over(self) -> None:
        """aiohttp serves this connection from here on, starting with the bytes not yet answered."""
        self.deadline.stop()
        self.lanes.discard(self)  # aiohttp's shutdown waits for it from here on
        handler = self.aiohttp_server()
        self.transport.set_protocol(handler)
        handler.connection_made(self.transport)
        if self.paused:
            self.transport.resume_reading()
        if self.buffer:
            handler.data_received(bytes(self.buffer))
        self.buffer.clear()

    # --- the one deadline: the head's or the body's ---
    def _arm(self, seconds: float, expired) -> None:
        self.deadline.set(asyncio.get_running_loop().time() + seconds, expired)


class FastLaneSite(web.BaseSite):
    """A TCP site whose connections start in the fast lane."""

    def __init__(self, runner: web.AppRunner, gateway, host: str, port: int):
        super().__init__(runner)
        self.gateway, self.host, self.port = gateway, host, port
        self.lanes: set[FastLane] = set()

    @property
    def name(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        self._server = await asyncio.get_running_loop().create_server(
            lambda: FastLane(self.gateway, server, self.lanes), self.host, self.port, reuse_address=True)

    async def stop(self) -> None:
        await super().stop()
        calls = [lane.call for lane in self.lanes if lane.busy and lane.call is not None]
        for lane in list(self.lanes):
            lane.close_when_idle()
        if calls:
            await asyncio.wait(calls, timeout=SHUTDOWN_SECONDS)


def run(app: web.Application, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM, then clean up, as aiohttp's run_app does (with uvloop)."""
    loop = uvloop.new_event_loop()  # c=8 through the gateway: ~80 % -> ~95 % of direct
    asyncio.set_event_loop(loop)
    main = loop.create_task(_serve(app, host, port))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        main.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(main)
        loop.close()


async def _serve(app: web.Application, host: str, port: int) -> None:
    runner = web.AppRunner(app, handle_signals=True, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
    await runner.setup()
    try:
        await FastLaneSite(runner, app["gateway"], host, port).start()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
