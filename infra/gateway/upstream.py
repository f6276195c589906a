"""Keep-alive HTTP/1.1 connections from the gateway to its functions, pooled per port.

A function is one hop away on loopback and speaks plain HTTP/1.1 (waitress), so the
gateway needs none of what aiohttp's ClientSession does per request (cookie jar, tracing
signals, URL, header and payload objects): profiled under concurrency 8 that was most
of the gateway's own time. Here a request is written in one send and the answer parsed
by httptools (llhttp, uvicorn's parser); idle connections wait in a pool for the next call.

A pool opens at most `connections` to its port; a call beyond them waits for a free one,
within its timeout (which covers the wait, the connect and the exchange). The functions'
waitress accepts 100 connections and leaves the rest unanswered until one closes, so
without the cap a burst of over 100 calls to one replica left the surplus to time out
(504) while the first hundred were served.
"""

from __future__ import annotations

import asyncio
from collections import deque

import httptools

from infra.gateway.deadline import Deadline

BODILESS_METHODS = frozenset(("GET", "HEAD", "DELETE", "OPTIONS"))


class UpstreamError(Exception):
    """The function could not be reached, or broke the connection before its answer ended."""


class ConnectionRefused(UpstreamError):
    """Nothing listens on the port: the request was not sent at all (another replica may take it)."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; `exchange` sends a request and waits for its whole answer."""

    def __init__(self):
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future | None = None
        self._headers: list[tuple[str, str]] = []
        self._chunks: list[bytes] = []
        self._delimited = False  # the answer has a Content-Length or is chunked
        self._headers_done = False
        self._head_only = False
        self.received_any = False
        self._deadline = Deadline()

    # --- asyncio.Protocol ---
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"sent a malformed answer ({exc})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._deadline.stop()
        if self._answer is None or self._answer.done():
            return
        if self._headers_done and not self._delimited:  # the body ends with the connection (RFC 9112 6.3)
            self._finish(keep_alive=False)
        else:
            self._answer.set_exception(UpstreamError("closed the connection before answering"))

    # --- httptools callbacks ---
    def on_message_begin(self) -> None:
        self._headers, self._chunks, self._delimited, self._headers_done = [], [], False, False

    def on_header(self, name: bytes, value: bytes) -> None:
        text = name.decode("latin-1")
        if text.lower() in ("content-length", "transfer-encoding"):
            self._delimited = True
        self._headers.append((text, value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._headers_done = True
        if self._head_only:  # llhttp cannot be told the answer is to a HEAD; end it here
            self._finish(keep_alive=False)

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._parser.get_status_code() < 200:
            return  # an interim answer: the final one follows on the same connection
        self._finish(keep_alive=self._parser.should_keep_alive())

    # --- the exchange ---
    async def exchange(self, head: bytes, body: bytes, head_only: bool,
                       deadline: float) -> tuple[int, list, bytes, bool]:
        """The answer, or TimeoutError at loop time `deadline` (the connection is closed then)."""
        self._answer = asyncio.get_running_loop().create_future()
        self._head_only = head_only
        self._headers_done = False
        self.received_any = False
        self._deadline.set(deadline, self._time_out)
        self.transport.writelines((head, body))
        try:
            return await self._answer
        finally:
            self._deadline.clear()

    def _time_out(self) -> None:
        self._fail(TimeoutError())

    def _finish(self, keep_alive: bool) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result((self._parser.get_status_code(), self._headers, b"".join(self._chunks),
                                     keep_alive and not self._head_only))

    def _fail(self, error: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)
        self.close()

    def close(self) -> None:
        self.closed = True
        self._deadline.stop()
        if self.transport is not None:
            self.transport.close()


class Upstream:
    """Pooled connections to one function's port."""

    def __init__(self, host: str, port: int, connections: int):
        self.host, self.port = host, port
        self._host_header = f"Host: {host}:{port}\r\n".encode()
        self._idle: deque[_Connection] = deque()
        # a call holds a slot while it uses a connection; one is opened only when none is idle,
        # so the open connections never outnumber the slots
        self._slots = asyncio.Semaphore(connections)

    async def request(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes,
                      timeout: float) -> tuple[int, list[tuple[str, str]], bytes]:
        """(status, headers, body); raises TimeoutError past `timeout`, UpstreamError if unreachable."""
        head = self._head(method, target, headers, body)
        deadline = asyncio.get_running_loop().time() + timeout
        await self._take_slot(deadline)
        try:
            while True:
                connection, reused = await self._acquire(deadline)
                try:
                    status, answer_headers, answer, keep_alive = await connection.exchange(
                        head, body, method == "HEAD", deadline)
                except UpstreamError:
                    connection.close()
                    # an idle connection the function closed just as it was reused: nothing reached
                    # the handler (not one byte came back), so the call goes out once more, afresh
                    if reused and not connection.received_any:
                        continue
                    raise
                except BaseException:  # a timeout or cancel mid-answer: the connection's state is unknown
                    connection.close()
                    raise
                if keep_alive and not connection.closed:
                    self._idle.append(connection)
                else:
                    connection.close()
                return status, answer_headers, answer
        finally:
            self._slots.release()

    async def _take_slot(self, deadline: float) -> None:
        if not self._slots.locked():
            await self._slots.acquire()  # free: taken at once, with no timer to set
            return
        async with asyncio.timeout_at(deadline):
            await self._slots.acquire()

    def _head(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
        fields = "".join([f"{name}: {value}\r\n" for name, value in headers])
        if fields.count("\n") != len(headers) or fields.count("\r") != len(headers):
            raise UpstreamError("was not called: a header has a line break in it")
        length = b"Content-Length: %d\r\n" % len(body) if body or method not in BODILESS_METHODS else b""
        return b"".join((f"{method} {target} HTTP/1.1\r\n".encode(), self._host_header,
                         fields.encode("utf-8", "surrogateescape"), length, b"\r\n"))

    async def _acquire(self, deadline: float) -> tuple[_Connection, bool]:
        while self._idle:
            connection = self._idle.pop()  # the most recently used: the likeliest still open
            if not connection.closed:
                return connection, True
        # the deadline outside the `except OSError`: the TimeoutError it raises is an OSError too
        async with asyncio.timeout_at(deadline):
            try:
                _, connection = await asyncio.get_running_loop().create_connection(
                    _Connection, self.host, self.port)
            except OSError as exc:
                raise ConnectionRefused(f"refused the connection ({exc.strerror or type(exc).__name__})") from None
        return connection, False

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
