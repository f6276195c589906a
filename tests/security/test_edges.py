"""The edges, attacked: each hostile request of issue #18 gets the safe answer.

Gateway-level cases run against the real gateway and function processes: the runtime
tests' own stack (tests/fixtures/stack.yml, the `echo` function) with short timeouts, and
the project's stack.yml (fetch-batch, train-model, predict). That second stack has no
databases: each refusal here must come before any store is touched, and an answer that
needed MinIO or MLflow would fail the test. Input rules are checked on the parsers
directly, as tables.
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
import time
import zlib
from pathlib import Path

import pytest
import requests

from infra.gateway.stackfile import function_ports, load_stack_file
from shared.collect import interpret
from shared.errors import BadRequest, InvalidInput, PayloadTooLarge, UpstreamError
from shared.http import parse_json
from shared.predict_input import parse_body, validate_records
from shared.schema import CATEGORIES, FEATURES
from shared.settings.stack import ROOT
from tests.predict_support import sample_records
from tests.runtime_support import TEST_STACK_FILE, runtime_stack

TIMEOUT = 2  # seconds: the head, body and read timeouts of the runtime stack below
SHORT_TIMEOUTS = {
    "GATEWAY_HEADER_TIMEOUT": str(TIMEOUT), "GATEWAY_BODY_TIMEOUT": str(TIMEOUT),
    "FUNCTION_READ_TIMEOUT": str(TIMEOUT), "FUNCTION_IDLE_TIMEOUT": str(TIMEOUT),
}
MB = 1024 * 1024
DEEP = b"[" * 2000 + b"]" * 2000  # RecursionError in the standard library's json, past orjson's own limit too
NESTED = b'{"a": ' * 100 + b"1" + b"}" * 100  # parsed by orjson, deeper than our limit


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    with runtime_stack(tmp_path_factory.mktemp("edges"), env=SHORT_TIMEOUTS) as started:
        yield started


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """The pipeline's own functions behind the gateway, without MariaDB, MinIO or MLflow."""
    with runtime_stack(tmp_path_factory.mktemp("edges-pipeline"), stack_file=ROOT / "stack.yml") as started:
        yield started


@pytest.fixture(scope="module")
def gateway(pipeline) -> str:
    return pipeline.config.url("gateway")


@pytest.fixture(scope="module")
def echo_port(runtime) -> int:
    stack = load_stack_file(TEST_STACK_FILE, {})
    return function_ports(stack, runtime.config.ports["functions"])["echo"]


def gateway_pid(runtime) -> int:
    return int(runtime.ctl("pid", "gateway").stdout.strip())


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def gzip_bomb(inflated_mb: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MB)
    return b"".join(packer.compress(zeros) for _ in range(inflated_mb)) + packer.flush()


# --- request bodies ---------------------------------------------------------------------------
def test_gzip_bomb_is_413_and_costs_the_gateway_less_than_50_mb(runtime, url):
    bomb = gzip_bomb(345)
    assert len(bomb) < 400 * 1024
    pid = gateway_pid(runtime)
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak resident size starts again from now
    before = memory_kb(pid, "VmRSS")
    started = time.monotonic()
    response = requests.post(f"{url}/function/echo", data=bomb, headers={"Content-Encoding": "gzip"}, timeout=30)
    elapsed = time.monotonic() - started
    peak, after = memory_kb(pid, "VmHWM"), memory_kb(pid, "VmRSS")
    assert response.status_code == 413, response.text
    assert "GATEWAY_MAX_BODY_BYTES" in response.text
    assert (peak - before) / 1024 < 50, f"peak resident size grew by {(peak - before) / 1024:.0f} MB"
    assert (after - before) / 1024 < 50
    assert elapsed < 10


def test_gzip_body_reaches_the_function_inflated(url):
    response = requests.post(f"{url}/function/echo", data=gzip.compress(b'{"a": 1}'),
                             headers={"Content-Encoding": "gzip"}, timeout=10)
    assert response.status_code == 200
    seen = response.json()
    assert seen["body"] == '{"a": 1}'
    assert "Content-Encoding" not in seen["headers"]


@pytest.mark.parametrize(
    ("body", "encoding", "status"),
    [
        (b"this is not gzip", "gzip", 400),
        (gzip.compress(bytes(range(256)) * 40)[:-30], "gzip", 400),  # cut short
        (b"not deflate either", "deflate", 400),
        (b"x", "br", 415),
        (b"x" * (16 * MB + 1), "identity", 413),  # over the default cap before any inflating
    ],
    ids=["not-gzip", "truncated-gzip", "not-deflate", "unsupported", "too-large"],
)
def test_bad_bodies_are_4xx_not_500(url, body, encoding, status):
    response = requests.post(f"{url}/function/echo", data=body, headers={"Content-Encoding": encoding}, timeout=30)
    assert response.status_code == status, response.text
    assert "Content-Encoding" in response.text or status == 413


# --- slow clients -------------------------------------------------------------------------------
def seconds_until_cut_off(port: int, head: bytes, trickle: bytes, limit: float = 20) -> tuple[float, bytes]:
    """Send `head`, then `trickle` a byte every 0.25 s until the server answers or closes: (seconds, answer)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as sock:
        sock.sendall(head)
        sock.settimeout(0.25)
        for index in range(int(limit / 0.25)):
            try:
                if trickle:
                    sock.send(trickle[index % len(trickle):][:1])
                answer = sock.recv(65536)  # b"" once closed
                return time.monotonic() - started, answer
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started, b""
    pytest.fail(f"the server still reads a trickled request after {limit} s")


@pytest.mark.parametrize(
    ("head", "trickle"),
    [
        (b"", b""),  # connected, sends nothing
        (b"POST /function/echo HTTP/1.1\r\nHost: x\r\n", b"X-Slow: y\r\n"),  # headers trickled in
        (b"POST /function/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", b"a"),  # body trickled
    ],
    ids=["idle", "headers", "body"],
)
@pytest.mark.parametrize("target", ["gateway", "function"])
def test_slow_clients_are_cut_off_after_the_timeout(runtime, echo_port, target, head, trickle):
    port = runtime.config.ports["gateway"] if target == "gateway" else echo_port
    elapsed, answer = seconds_until_cut_off(port, head, trickle)
    if target == "gateway" and b"Content-Length" in head:
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    else:
        assert answer == b"", answer[:200]  # closed without an answer
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + 8, f"cut off after {elapsed:.1f} s"


# --- what the gateway passes on and reveals ----------------------------------------------------
def test_forged_forwarding_headers_are_replaced(url):
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "evil.example", "X-Real-Ip": "203.0.113.9",
              "Forwarded": "for=203.0.113.9", "X-Start-Time": "1"}
    seen = requests.get(f"{url}/function/echo", headers=forged, timeout=10).json()["headers"]
    assert seen["X-Forwarded-For"] == "127.0.0.1"
    assert seen["X-Forwarded-Host"] == url.removeprefix("http://")
    assert "X-Real-Ip" not in seen and "Forwarded" not in seen
    assert seen["X-Start-Time"] != "1"


@pytest.mark.parametrize("path", ["/healthz", "/function/echo", "/function/nope", "/system/functions", "/nowhere"])
def test_no_server_version_in_gateway_answers(url, path):
    response = requests.get(url + path, timeout=10)
    assert response.headers.get("Server") in (None, "gateway"), response.headers


@pytest.mark.parametrize("target", ["gateway", "function"])
def test_no_server_version_in_answers_to_malformed_requests(runtime, echo_port, target):
    port = runtime.config.ports["gateway"] if target == "gateway" else echo_port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GARBAGE / HTTP/9.9\r\nBad Header\r\n\r\n")
        answer = sock.recv(4096).decode("latin-1")
    assert answer.startswith("HTTP/1.0 400") or answer.startswith("HTTP/1.1 400"), answer
    server = [line for line in answer.split("\r\n") if line.lower().startswith("server:")]
    assert server in ([], ["Server: gateway"]), server
    assert "aiohttp" not in answer and "waitress" not in answer and "Python" not in answer


def test_no_server_header_from_a_function(echo_port):
    response = requests.get(f"http://127.0.0.1:{echo_port}/", timeout=10)
    assert response.status_code == 200
    assert "Server" not in response.headers


# --- the pipeline's functions, through the gateway ----------------------------------------------
def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_force_with_only_the_webhook_token_is_refused(pipeline, gateway):
    token = pipeline.config.secret("minio-webhook-token")
    response = requests.post(f"{gateway}/function/train-model", data=b'{"force": true}',
                             headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 403, response.text
    assert response.json()["details"][0]["field"] == "force"


@pytest.mark.parametrize("body", [DEEP, NESTED], ids=["2000-levels", "100-levels"])
@pytest.mark.parametrize(
    ("function", "auth"),
    [("predict", None), ("train-model", "webhook"), ("train-model", "admin"), ("fetch-batch", None)],
)
def test_deep_json_is_400_on_every_function(pipeline, gateway, function, auth, body):
    secret = pipeline.config.secret
    headers = {"Content-Type": "application/json"}
    if auth == "webhook":
        headers["Authorization"] = f"Bearer {secret('minio-webhook-token')}"
    elif auth == "admin":
        headers["Authorization"] = basic(secret("basic-auth-user"), secret("basic-auth-password"))
    response = requests.post(f"{gateway}/function/{function}", data=body, headers=headers, timeout=60)
    assert response.status_code == 400, response.text
    assert response.json()["details"][0]["field"] == "body"
    assert "depth" in response.json()["error"] or "nested deeper" in response.json()["error"]


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"])
def test_fetch_batch_takes_only_post_and_get(gateway, method):
    response = requests.request(method, f"{gateway}/function/fetch-batch", timeout=30)
    assert response.status_code == 405, response.text


def test_deep_json_from_the_data_api_is_an_upstream_error():
    answer = requests.Response()
    answer.status_code, answer._content = 200, DEEP
    with pytest.raises(UpstreamError) as caught:
        interpret(answer, "http://127.0.0.1:1/data")
    assert caught.value.status == 502 and "Data API" in caught.value.message


# --- the JSON helper ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[" * 100_000 + b"]" * 100_000, BadRequest),
        (b"[" * 33 + b"]" * 33, BadRequest),
        (b'{"a": ' * 40 + b"1" + b"}" * 40, BadRequest),
        (b"{", BadRequest),
        (b'"' + b"x" * 2000 + b'"', PayloadTooLarge),
    ],
    ids=["very-deep", "33-levels", "deep-objects", "malformed", "too-large"],
)
def test_parse_json_refuses(body, error):
    with pytest.raises(error) as caught:
        parse_json(body, max_bytes=1000 if error is PayloadTooLarge else 10**6)
    assert caught.value.status in (400, 413) and caught.value.details[0]["field"] == "body"


def test_parse_json_takes_32_levels():
    assert parse_json(b"[" * 32 + b"]" * 32, max_bytes=1000) == eval("[" * 32 + "]" * 32)


# --- predict's input rules ----------------------------------------------------------------------
def record(**changes) -> dict:
    return {**sample_records(1, seed=3)[0], **changes}


@pytest.mark.parametrize(
    "value",
    ["1_000", "١٢٣", "１２３", "\u0661\u0662", " 12", "12 ", "12\u00a0", "0x10", "1,5", "nan", "inf", "1e3\n"],
    ids=["underscore", "arabic-indic", "full-width", "arabic-indic-2", "lead-space", "trail-space", "nbsp",
         "hex", "comma", "nan", "inf", "newline"],
)
def test_numbers_must_be_ascii_decimal(value):
    with pytest.raises(InvalidInput) as caught:
        validate_records([record(Elevation=value)])
    assert [(d["row"], d["field"]) for d in caught.value.details] == [(0, "Elevation")]


@pytest.mark.parametrize("value", ["2596", "2596.0", "+2596", "2.596e3", "2596.", 2596, 2596.5])
def test_ascii_decimal_numbers_are_taken(value):
    assert float(validate_records([record(Elevation=value)]).columns["Elevation"][0]) == float(value)


@pytest.mark.parametrize("field", sorted(CATEGORIES))
@pytest.mark.parametrize("change", [lambda code: code + "\u00a0", lambda code: " " + code, lambda code: code.lower(),
                                    lambda code: code + "\u200b"], ids=["nbsp", "space", "lower", "zero-width"])
def test_categories_must_match_exactly(field, change):
    code = CATEGORIES[field][0]
    if change(code) == code:
        pytest.skip("the change leaves this code as it is")
    with pytest.raises(InvalidInput) as caught:
        validate_records([record(**{field: change(code)})])
    assert [d["field"] for d in caught.value.details] == [field]


@pytest.mark.parametrize(
    ("body", "content_type", "count"),
    [
        ((",".join([*FEATURES, *(f"extra{i}" for i in range(10_000))]) + "\n").encode(), "text/csv", 10_000),
        (json.dumps([record(Slope="x", Aspect="y")] * 300).encode(), "application/json", 600),
    ],
    ids=["10000-columns", "300-bad-rows"],
)
def test_details_are_capped_at_100_with_a_count(body, content_type, count):
    with pytest.raises(InvalidInput) as caught:
        parse_body(body, content_type, max_rows=10_000, max_bytes=8 * MB)
    answer = caught.value.to_body()
    assert len(answer["details"]) == 100 and answer["detail_count"] == count
    assert len(json.dumps(answer)) < 20_000
