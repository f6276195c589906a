"""The gateway's defences at the edge: request bodies, slow clients, what answers reveal.

- A body is read by `read_body`, never by aiohttp's own decompression (which inflates a
  whole gzip body before any size check: 200 KB of zeros became ~345 MB). gzip and
  deflate are inflated here in bounded steps, so a body past GATEWAY_MAX_BODY_BYTES,
  compressed or not, answers 413 as soon as it gets there, having cost no more than the
  cap; a body labelled gzip that is not answers 400; another encoding 415. The
  function gets the inflated body, without the Content-Encoding header.
- A body must arrive within GATEWAY_BODY_TIMEOUT (408 otherwise). A connection must
  send a complete request head within GATEWAY_HEADER_TIMEOUT of opening or of the last
  answer, or it is closed (the fast lane's timer, and aiohttp's keep-alive timer for the
  connections it serves; a trickled head resets neither: see fastlane.py, `handler_args`).
- The forwarding headers are the gateway's own: a client's `X-Forwarded-For` and
  friends are dropped before the gateway adds its own (see `NOT_FORWARDED`).
- Answers carry `Server: gateway`, not aiohttp's and Python's versions.
"""

from __future__ import annotations

import asyncio
import zlib

from aiohttp import web, web_response

from shared.settings.gateway import GatewaySettings

CHUNK_BYTES = 64 * 1024
LINGER_SECONDS = 2.0  # after refusing a body, how long its rest is read and dropped (aiohttp's default: 10)
SERVER_NAME = "gateway"
# inflater window bits per Content-Encoding: gzip framing, zlib framing (what "deflate" means in HTTP)
WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
# request headers never passed on: the gateway sets the forwarding ones itself (a client's own
# would be believed downstream), and the body it forwards is already inflated
NOT_FORWARDED = frozenset((
    "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port", "x-real-ip", "forwarded",
    "x-start-time", "content-encoding",
))


def handler_args(settings: GatewaySettings) -> dict:
    """aiohttp server options: no automatic inflating, the head/idle timeout, a short linger."""
    return {"auto_decompress": False, "keepalive_timeout": settings.header_timeout, "lingering_time": LINGER_SECONDS}


def too_large(limit: int) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(
        max_size=limit, actual_size=limit + 1,
        text=f"request body is over the gateway's limit of {limit} bytes (GATEWAY_MAX_BODY_BYTES), "
             "counted after decompression\n")


async def read_body(request: web.Request, settings: GatewaySettings) -> bytes:
    """The request body, inflated if compressed; 413 / 400 / 408 / 415 as the module docstring says."""
    limit = settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in WBITS and encoding not in ("", "identity"):
        raise web.HTTPUnsupportedMediaType(text=f"Content-Encoding {encoding!r} is not supported: "
                                                "send gzip, deflate or an uncompressed body\n")
    if not request.body_exists:
        return b""
    inflater = zlib.decompressobj(WBITS[encoding]) if encoding in WBITS else None
    try:
        async with asyncio.timeout(settings.body_timeout):
            return await _collect(request, inflater, limit)
    except TimeoutError:
        raise web.HTTPRequestTimeout(text=body_late(settings)) from None
    except zlib.error:
        raise web.HTTPBadRequest(text=f"body: Content-Encoding says {encoding}, but the body is not valid "
                                      f"{encoding} data\n") from None


def body_late(settings: GatewaySettings) -> str:
    return f"the request body did not arrive within {settings.body_timeout:g}s (GATEWAY_BODY_TIMEOUT)\n"


async def _collect(request: web.Request, inflater, limit: int) -> bytes:
    body = bytearray()
    try:
        return await _fill(body, request, inflater, limit)
    finally:
        body.clear()  # the traceback of a refusal would otherwise keep up to `limit` bytes alive


async def _fill(body: bytearray, request: web.Request, inflater, limit: int) -> bytes:
    async for chunk in request.content.iter_chunked(CHUNK_BYTES):
        pending = chunk
        while pending:  # in steps of CHUNK_BYTES: no large piece outlives a refusal
            if inflater is None:
                piece, pending = pending, b""
            else:
                piece = inflater.decompress(pending, CHUNK_BYTES)
                pending = inflater.unconsumed_tail
            body += piece
            if len(body) > limit:
                raise too_large(limit)
    if inflater is not None:
        if not inflater.eof and (body or request.content_length):
            raise zlib.error("truncated stream")
        body += inflater.flush()
        if len(body) > limit:
            raise too_large(limit)
    return bytes(body)


async def hide_server_version(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER_NAME


def install(app: web.Application) -> None:
    # aiohttp's own answers to malformed requests skip on_response_prepare and name
    # "Python/3.x aiohttp/3.x"; this module-level default is the one way to reach them
    web_response.SERVER_SOFTWARE = SERVER_NAME
    app.on_response_prepare.append(hide_server_version)
