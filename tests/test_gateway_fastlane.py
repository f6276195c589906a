"""The gateway's fast lane (infra/gateway/fastlane.py) on a real gateway, spoken to over raw sockets.

The timeouts it keeps are tested in tests/security/test_edges.py; here: that one connection
can carry lane calls and then what aiohttp serves, in order, and what a lane answer says.
"""

from __future__ import annotations

import re
import socket

import requests


def exchange(port: int, raw: bytes, answers: int) -> bytes:
    """Send `raw` at once and read until `answers` status lines have come, or the connection closes."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        while len(re.findall(rb"HTTP/1\.1 \d{3} ", received)) < answers or not received.endswith((b"}", b"\n")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received


def test_one_connection_carries_lane_calls_then_requests_aiohttp_serves_in_order(runtime):
    port = runtime.config.ports["gateway"]
    raw = (b"GET /function/echo/first HTTP/1.1\r\nHost: x\r\n\r\n"
           b"POST /function/echo/second HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
           b"POST /function/echo/third HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"3\r\nabc\r\n0\r\n\r\n"  # chunked: not the lane's, so aiohttp takes the connection from here
           b"GET /function/echo/fourth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = exchange(port, raw, 4)
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", answer) == [b"200"] * 4
    paths = re.findall(rb'"path": "(/\w+)"', answer)
    assert paths == [b"/first", b"/second", b"/third", b"/fourth"]
    assert b'"body": "hello"' in answer and b'"body": "abc"' in answer


def test_a_lane_answer_has_the_gateways_headers_once(url):
    response = requests.get(f"{url}/function/echo/status/418", headers={"X-Call-Id": "mine-1"}, timeout=10)
    assert response.status_code == 418 and response.text == "status 418"
    raw = response.raw.headers
    assert raw.getlist("Date") and len(raw.getlist("Date")) == 1
    assert raw.getlist("Server") == ["gateway"]
    assert response.headers["X-Call-Id"] == "mine-1"
    assert float(response.headers["X-Duration-Seconds"]) > 0
    assert int(response.headers["Content-Length"]) == len(response.content)


def test_connection_close_is_answered_then_closed(runtime):
    port = runtime.config.ports["gateway"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /function/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):  # ends only when the gateway closes
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nConnection: close\r\n" in received


def test_a_function_that_is_not_reachable_answers_502_from_the_lane(url):
    response = requests.get(f"{url}/function/absent", timeout=30)
    assert response.status_code == 502
    assert response.text == "function absent is not reachable (no ready replica answered)\n"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
