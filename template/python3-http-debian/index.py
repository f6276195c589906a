"""The python3-http contract server: Flask + waitress, one handler per process.

In a container, of-watchdog (http mode) forwards each request to this server on
127.0.0.1:5000 and the handler is the `function/` folder beside this file. The local
runtime runs this same file directly, pointing FUNCTION_DIR at `functions/<name>/` and
FUNCTION_PORT at the function's own loopback port.

The contract: `handle(event, context)` gets `event.body` (bytes), `event.headers`,
`event.method`, `event.query`, `event.path` and `context.hostname`, and returns a dict
with `statusCode` (default 200), `body` (dict or list -> JSON; str or bytes as is) and
`headers`. An exception in the handler becomes a 500 with a short JSON message; the
traceback goes to the function's log, never to the caller.

Slow clients: a connection idle for FUNCTION_IDLE_TIMEOUT seconds is closed (waitress's
channel_timeout), and so is one whose request (head and body) has not fully arrived
FUNCTION_READ_TIMEOUT seconds after its first byte, however steadily it trickles in
(waitress itself only counts idle time). Answers carry no Server header. The
`X-Forwarded-For` / `-Host` headers are believed only from FUNCTION_TRUSTED_PROXY (the
gateway, on loopback) and dropped from anyone else.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import time
import types
from pathlib import Path

from flask import Flask, Response, request
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
log = logging.getLogger("function")


class Event:
    def __init__(self):
        self.body = request.get_data()
        self.headers = request.headers
        self.method = request.method
        self.query = request.args
        self.path = request.path


class Context:
    def __init__(self):
        self.hostname = os.getenv("HOSTNAME", "localhost")


def load_handler(function_dir: Path):
    """Import `<function_dir>/handler.py` as `function.handler`, as the container does."""
    package = types.ModuleType("function")
    package.__path__ = [str(function_dir)]
    sys.modules["function"] = package
    return importlib.import_module("function.handler")


def to_response(result) -> Response:
    if result is None:
        return Response(b"", status=200)
    if not isinstance(result, dict):
        raise TypeError(f"handle() returned {type(result).__name__}; return a dict with statusCode, body, headers")
    headers = result.get("headers") or {}
    body = result.get("body", b"")
    mimetype = None
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        mimetype = "application/json"
    elif not isinstance(body, (str, bytes)):
        body = str(body)
    response = Response(body, status=result.get("statusCode", 200), mimetype=mimetype)
    for name, value in headers.items():
        response.headers[name] = value
    return response


def failure(exc: BaseException) -> Response:
    log.exception("handler failed")
    message = {"error": f"the function failed ({type(exc).__name__}); see its log"}
    return Response(json.dumps(message), status=500, mimetype="application/json")


def create_app(handler) -> Flask:
    app = Flask(__name__)

    @app.route("/", defaults={"path": ""}, methods=METHODS)
    @app.route("/<path:path>", methods=METHODS)
    def call_handler(path):
        try:
            return to_response(handler.handle(Event(), Context()))
        except Exception as exc:  # the contract: any handler failure is a 500, never a traceback
            return failure(exc)

    return app


class DeadlineChannel(HTTPChannel):
    """A channel that notes when the request it is reading began."""

    request_started = 0.0

    def received(self, data):
        if self.request is None and data:
            self.request_started = time.monotonic()
        return super().received(data)


class DeadlineServer(TcpWSGIServer):
    """waitress, closing connections whose request takes longer than `read_timeout` to arrive."""

    channel_class = DeadlineChannel
    read_timeout = 30.0

    def maintenance(self, now):
        super().maintenance(now)
        cutoff = time.monotonic() - self.read_timeout
        for channel in list(self.active_channels.values()):
            if channel.request is not None and channel.request_started < cutoff:
                channel.will_close = True


def serve(app) -> None:
    idle = int(os.getenv("FUNCTION_IDLE_TIMEOUT", "60"))  # whole seconds: waitress's own settings are ints
    DeadlineServer.read_timeout = float(os.getenv("FUNCTION_READ_TIMEOUT", "30"))
    server = DeadlineServer(
        app,
        host=os.getenv("FUNCTION_HOST", "127.0.0.1"),
        port=int(os.getenv("FUNCTION_PORT", "5000")),
        threads=int(os.getenv("WAITRESS_THREADS", "8")),
        ident=None,
        channel_timeout=idle,
        cleanup_interval=1,  # how often both timeouts are checked
        # waitress reads 8 KB at a time by default: a 1,000-row predict body (330 KB) took
        # 40 reads; 64 KB reads cut a 310 KB call's round trip from 1.50 to 1.24 ms (median)
        recv_bytes=65536,
        max_request_body_size=int(os.getenv("FUNCTION_MAX_BODY_BYTES", str(64 * 1024 * 1024))),
        # the gateway (or of-watchdog) in front sets these; waitress drops them from anyone else
        trusted_proxy=os.getenv("FUNCTION_TRUSTED_PROXY", "127.0.0.1"),
        trusted_proxy_count=1,
        trusted_proxy_headers={"x-forwarded-for", "x-forwarded-host"},
    )
    server.run()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    function_dir = Path(os.getenv("FUNCTION_DIR", Path(__file__).resolve().parent / "function"))
    serve(create_app(load_handler(function_dir)))


if __name__ == "__main__":
    main()
