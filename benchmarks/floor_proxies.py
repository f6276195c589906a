"""Proxies that do nothing but the hop, to show what the gateway's own layers cost.

    python -m benchmarks.floor_proxies aiohttp|httptools <listen port> <function port>

All pass `/function/<name>/<path>` on to one function. `aiohttp` and `httptools` use the
gateway's own Upstream pool: `aiohttp` is a one-route aiohttp app, the hop plus aiohttp's
request and response machinery; `httptools` is a bare asyncio Protocol that parses with
httptools, close to the hop alone in Python. `go` is Go's standard reverse proxy
(benchmarks/goproxy, built into .bench/ on first use): the hop with the proxy's own work
compiled, as in OpenFaaS's own gateway. None has the gateway's limits, metrics or routes,
so none is a server to run: they are yardsticks for the bench (`floor_proxy`).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httptools
import uvloop
from aiohttp import web

from infra.gateway.app import HOP_BY_HOP, split_target
from infra.gateway.upstream import Upstream
from shared.settings.gateway import load_gateway_settings
from tests.conftest import free_port
from tests.predict_support import ROOT, wait_for_port

GO_SOURCE = Path(__file__).with_name("goproxy") / "main.go"
GO_BINARY = ROOT / ".bench" / "goproxy"


def passed_on(headers) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if name.lower() not in HOP_BY_HOP]


def target(raw_path: str) -> str:
    path, query = split_target(raw_path)
    return f"/{path}?{query}" if query else f"/{path}"


def aiohttp_app(upstream: Upstream) -> web.Application:
    async def proxy(request: web.Request) -> web.Response:
        status, headers, body = await upstream.request(
            request.method, target(request.raw_path), passed_on(request.headers.items()), await request.read(), 10)
        return web.Response(status=status, body=body, headers=passed_on(headers))

    app = web.Application()
    app.router.add_route("*", "/function/{name:.*}", proxy)
    return app


class BareProxy(asyncio.Protocol):
    """HTTP/1.1 keep-alive, one request at a time, Content-Length answers."""

    def __init__(self, upstream: Upstream):
        self.upstream = upstream
        self.parser = httptools.HttpRequestParser(self)
        self.url, self.headers, self.body = b"", [], []

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        request = (self.parser.get_method().decode(), target(self.url.decode("latin-1")), passed_on(self.headers),
                   b"".join(self.body))
        self.url, self.headers, self.body = b"", [], []
        asyncio.ensure_future(self.answer(*request))

    async def answer(self, method: str, path: str, headers: list, body: bytes) -> None:
        status, answer_headers, payload = await self.upstream.request(method, path, headers, body, 10)
        fields = "".join(f"{name}: {value}\r\n" for name, value in passed_on(answer_headers))
        head = f"HTTP/1.1 {status} -\r\n{fields}Content-Length: {len(payload)}\r\n\r\n"
        self.transport.write(head.encode("latin-1") + payload)


async def serve_bare(port: int, upstream: Upstream) -> None:
    server = await asyncio.get_running_loop().create_server(lambda: BareProxy(upstream), "127.0.0.1", port)
    await server.serve_forever()


def go_proxy() -> Path:
    """The Go yardstick's binary, built when missing or older than its source."""
    if not GO_BINARY.exists() or GO_BINARY.stat().st_mtime < GO_SOURCE.stat().st_mtime:
        GO_BINARY.parent.mkdir(exist_ok=True)
        try:
            subprocess.run(["go", "build", "-o", str(GO_BINARY), str(GO_SOURCE)], check=True,
                           env={**os.environ, "CGO_ENABLED": "0"})
        except FileNotFoundError:
            raise RuntimeError("the Go yardstick needs Go on PATH (as infra/setup.sh does): install Go 1.24 "
                               "or newer") from None
    return GO_BINARY


@contextmanager
def floor_proxy(kind: str, function_port: int) -> Iterator[tuple[str, int]]:
    """A yardstick proxy (aiohttp, httptools or go) in front of the function; yields (its base URL, its pid)."""
    port = free_port()
    command = [str(go_proxy())] if kind == "go" else [sys.executable, "-m", "benchmarks.floor_proxies", kind]
    process = subprocess.Popen([*command, str(port), str(function_port)], cwd=ROOT)
    try:
        wait_for_port(port, 30, process)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(10)


def main(kind: str, port: str, function_port: str) -> None:
    upstream = Upstream("127.0.0.1", int(function_port), load_gateway_settings().upstream_connections)
    if kind == "aiohttp":
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        web.run_app(aiohttp_app(upstream), host="127.0.0.1", port=int(port), access_log=None, print=None)
    else:
        uvloop.run(serve_bare(int(port), upstream))


if __name__ == "__main__":
    main(*sys.argv[1:])
