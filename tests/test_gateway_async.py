"""/async-function for real, on NATS JetStream: 202 and a call id, callbacks, retries, a
bounded pool, calls that survive a SIGKILL of the gateway (JetStream holds them before the
202), a bounded queue (429 when full), and the edges of #18: callbacks to allowed hosts
only, no redirects, apart from the workers; the call id the gateway's own; the queue's
store readable by its owner only, encrypted."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
import uuid
from pathlib import Path

import nats
import nats.errors
import pytest
import requests

from infra.gateway import natsq
from infra.gateway.asyncq import RetryPolicy, policy_from_annotations
from infra.gateway.stackfile import load_stack_file
from shared.errors import ServiceUnavailable
from shared.settings.gateway import load_gateway_settings
from shared.settings.stack import ROOT
from tests.http_support import LoopbackServer, QuietHandler
from tests.runtime_support import CallbackReceiver, queued_calls, runtime_stack

WORKERS = 3
ATTEMPTS = 3
ACK_WAIT = 2  # seconds before JetStream hands a killed gateway's call in flight to the next one
CALLBACK_TIMEOUT = 4


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    env = {"GATEWAY_ASYNC_WORKERS": str(WORKERS), "GATEWAY_ASYNC_MAX_ATTEMPTS": str(ATTEMPTS),
           "GATEWAY_RETRY_DELAY": "0.05", "GATEWAY_ACK_WAIT": str(ACK_WAIT),
           "GATEWAY_CALLBACK_TIMEOUT": str(CALLBACK_TIMEOUT)}
    with runtime_stack(tmp_path_factory.mktemp("gateway-async"), env=env) as started:
        yield started


@pytest.fixture
def callbacks():
    with CallbackReceiver() as receiver:
        yield receiver


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:10]


def submit(url: str, path: str, callback: str | None = None, body: bytes = b"", headers=None) -> str:
    headers = dict(headers or {})
    if callback:
        headers["X-Callback-Url"] = callback
    response = requests.post(f"{url}/async-function/{path}", data=body, headers=headers, timeout=10)
    assert response.status_code == 202, response.text
    return response.headers["X-Call-Id"]


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stats(url: str, tag: str) -> dict:
    return requests.get(f"{url}/function/worker/stats?tag={tag}", timeout=10).json()


def test_accepted_with_202_and_a_call_id_then_the_callback_carries_the_result(url, callbacks):
    call_id = submit(url, "echo/some/path?k=v", callbacks.url, body=b"async body",
                     headers={"X-Custom": "1", "Authorization": "Bearer webhook-token"})
    result = callbacks.wait_for([call_id])[call_id]
    assert result.headers["X-Function-Status"] == "200"
    assert result.headers["X-Function-Name"] == "echo"
    assert float(result.headers["X-Duration-Seconds"]) >= 0
    assert result.headers["Content-Type"] == "application/json"
    seen = result.json()
    assert seen["body"] == "async body"
    assert seen["path"] == "/some/path" and seen["query"] == {"k": ["v"]}
    assert seen["headers"]["X-Custom"] == "1"
    assert seen["headers"]["Authorization"] == "Bearer webhook-token"  # MinIO's webhook token gets through
    assert seen["headers"]["X-Call-Id"] == call_id


def test_callback_reports_a_4xx_once_without_retry(url, callbacks):
    call_id = submit(url, "echo/status/404", callbacks.url)
    assert callbacks.wait_for([call_id])[call_id].headers["X-Function-Status"] == "404"


def test_failing_function_is_retried_then_reported(url, callbacks, tag):
    call_id = submit(url, f"worker/fail?tag={tag}", callbacks.url)
    result = callbacks.wait_for([call_id])[call_id]
    assert result.headers["X-Function-Status"] == "503"
    assert result.json() == {"error": "failing on purpose", "tag": tag}
    assert stats(url, tag)["hits"] == ATTEMPTS
    assert len(callbacks.for_call(call_id)) == 1


def test_unreachable_function_is_retried_then_reported_as_502(url, callbacks):
    call_id = submit(url, "absent", callbacks.url)
    result = callbacks.wait_for([call_id])[call_id]
    assert result.headers["X-Function-Status"] == "502"
    assert b"function absent" in result.body


def test_bad_callback_url_is_400(url):
    response = requests.post(f"{url}/async-function/echo", headers={"X-Callback-Url": "ftp://x"}, timeout=10)
    assert response.status_code == 400
    assert "X-Callback-Url" in response.text


def test_fifty_queued_calls_run_at_most_pool_size_at_once(url, callbacks, tag):
    call_ids = [submit(url, f"worker/sleep/0.1?tag={tag}", callbacks.url) for _ in range(50)]
    results = callbacks.wait_for(call_ids, timeout=30)
    assert {r.headers["X-Function-Status"] for r in results.values()} == {"200"}
    seen = stats(url, tag)
    assert seen["hits"] == 50
    assert seen["max_in_flight"] == WORKERS  # the pool is used, and never exceeded


def test_calls_accepted_before_a_sigkill_still_run_after_the_restart(runtime, url, callbacks, tag):
    call_ids = [submit(url, f"worker/sleep/1?tag={tag}", callbacks.url) for _ in range(12)]  # 4 s of work
    os.kill(int(runtime.ctl("pid", "gateway").stdout), signal.SIGKILL)
    done_before_kill = len(callbacks.calls)
    assert done_before_kill < len(call_ids)  # most were still queued when the gateway died
    results = callbacks.wait_for(call_ids, timeout=60)
    assert {r.headers["X-Function-Status"] for r in results.values()} == {"200"}
    assert [len(callbacks.for_call(call_id)) for call_id in call_ids].count(1) >= len(call_ids) - 2 * WORKERS
    runtime.wait_healthy("gateway", 30)
    assert wait_until(lambda: queued_calls(runtime) == 0, 10)  # every call done and acknowledged


def test_calls_queued_when_nats_is_killed_still_run_after_its_restart(runtime, url, callbacks, tag):
    call_ids = [submit(url, f"worker/sleep/0.5?tag={tag}", callbacks.url) for _ in range(12)]
    os.kill(int(runtime.ctl("pid", "nats").stdout), signal.SIGKILL)  # supervisord starts it again
    results = callbacks.wait_for(call_ids, timeout=60)
    assert {r.headers["X-Function-Status"] for r in results.values()} == {"200"}
    assert wait_until(lambda: runtime.state_of("nats") == "RUNNING" and queued_calls(runtime) == 0, 20)
    assert stats(url, tag)["hits"] >= len(call_ids)  # each ran, those in flight at the kill perhaps twice
    assert submit(url, "echo", callbacks.url)  # the gateway took up with the new nats-server


def test_a_call_whose_callback_receiver_is_down_still_runs_and_leaves_the_queue(runtime, url, tag):
    from tests.conftest import free_port

    call_id = submit(url, f"worker/sleep/0?tag={tag}", f"http://127.0.0.1:{free_port()}/nobody-listens")
    log = runtime.config.logs_dir / "gateway.log"
    assert wait_until(lambda: f"callback for {call_id}" in log.read_text(), 20)
    assert f"worker {call_id} -> 200 after 1 run(s)" in log.read_text()
    assert stats(url, tag)["hits"] == 1
    assert wait_until(lambda: queued_calls(runtime) == 0, 10)


def test_a_client_call_id_is_never_used(url, callbacks):
    for theirs in ("../../etc/passwd", "a/b", "x" * 300):
        response = requests.post(f"{url}/async-function/echo", headers={"X-Call-Id": theirs,
                                                                        "X-Callback-Url": callbacks.url}, timeout=10)
        assert response.status_code == 202, response.text
        ours = response.headers["X-Call-Id"]
        assert ours != theirs and str(uuid.UUID(ours)) == ours
        seen = callbacks.wait_for([ours])[ours].json()
        assert seen["headers"]["X-Call-Id"] == ours


@pytest.mark.parametrize("callback", [
    "http://example.com/done",  # a host not in GATEWAY_CALLBACK_HOSTS (default: loopback)
    "http://10.1.2.3:9000/minio",
    "http://127.0.0.1.example.com/done",
    "ftp://127.0.0.1/done",
    "http:///no-host",
    "not a url",
])
def test_a_callback_the_gateway_will_not_call_is_refused_before_it_is_queued(url, tag, callback):
    response = requests.post(f"{url}/async-function/worker/fail?tag={tag}", headers={"X-Callback-Url": callback},
                             timeout=10)
    assert response.status_code == 400
    assert "X-Callback-Url" in response.text and "X-Call-Id" not in response.headers
    time.sleep(0.5)
    assert stats(url, tag)["hits"] == 0  # never queued, so never run


def test_a_callback_redirect_is_not_followed(url, callbacks):
    class Redirect(QuietHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(307)
            self.send_header("Location", callbacks.url)
            self.send_header("Content-Length", "0")
            self.end_headers()
            redirected.append(self.headers["X-Call-Id"])

    redirected: list[str] = []
    with LoopbackServer(Redirect) as redirector:
        call_id = submit(url, "echo", f"http://127.0.0.1:{redirector.port}/done")
        assert wait_until(lambda: redirected == [call_id], 15)
        time.sleep(1)
    assert callbacks.calls == []  # the Location was not followed


class SlowReceiver(LoopbackServer):
    """A callback receiver that holds every POST for `seconds` before it answers."""

    def __init__(self, seconds: float):
        self.open = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self):
                with receiver.lock:
                    receiver.open += 1
                try:
                    time.sleep(seconds)
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the gateway gave up on us
                    pass
                finally:
                    with receiver.lock:
                        receiver.open -= 1

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}/slow"


def test_slow_callback_receivers_do_not_hold_the_workers(runtime, url, callbacks):
    with SlowReceiver(CALLBACK_TIMEOUT + 6) as slow:
        slow_ids = [submit(url, "echo", slow.url) for _ in range(WORKERS + 1)]
        assert wait_until(lambda: slow.open == WORKERS + 1, 15)  # every worker's call is waiting on its callback
        began = time.monotonic()
        fast_ids = [submit(url, "echo", callbacks.url) for _ in range(2 * WORKERS)]
        callbacks.wait_for(fast_ids, timeout=CALLBACK_TIMEOUT)
        assert slow.open == WORKERS + 1, "the fast calls had to wait for the slow callbacks"
        fast = time.monotonic() - began
        log = runtime.config.logs_dir / "gateway.log"
        # the gateway gives a callback CALLBACK_TIMEOUT seconds, then drops it (and acknowledges the call)
        assert wait_until(lambda: all(f"callback for {cid}" in log.read_text() for cid in slow_ids), 20)
        assert wait_until(lambda: queued_calls(runtime) == 0, 10)
    print(f"\n{2 * WORKERS} calls called back in {fast:.2f} s while {WORKERS + 1} slow callbacks were held")


def test_queue_state_is_owner_only_and_keeps_no_credential_in_the_clear(runtime, url, callbacks, tag):
    token, marker = f"Bearer secret-{tag}", f"body-marker-{tag}"
    call_ids = [submit(url, f"worker/sleep/1?tag={tag}", callbacks.url, body=marker.encode(),
                       headers={"Authorization": token}) for _ in range(WORKERS + 2)]
    store = runtime.config.state_dir / "nats"
    time.sleep(0.3)  # the calls are in the stream, some waiting for a worker
    assert queued_calls(runtime) > 0
    found = list(store.rglob("*"))
    assert any(path.suffix == ".blk" for path in found)  # JetStream's message blocks
    for path in [store, *found]:
        mode = path.stat().st_mode & 0o777
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
        if path.is_file():
            content = path.read_bytes()
            assert token.encode() not in content and marker.encode() not in content, f"{path} holds it in the clear"
    conf = (store / "nats-server.conf").read_text()
    for secret in ("nats-password", "nats-store-key"):
        assert runtime.config.secret(secret) not in conf
    results = callbacks.wait_for(call_ids, timeout=20)
    assert {r.headers["X-Function-Status"] for r in results.values()} == {"200"}  # the function still got them


def test_nats_refuses_a_client_without_the_password(runtime):
    async def connect(password: str | None):
        client = await nats.connect(f"nats://127.0.0.1:{runtime.config.ports['nats']}", user="gateway",
                                    password=password, allow_reconnect=False, max_reconnect_attempts=0,
                                    connect_timeout=3)
        await client.close()

    for wrong in (None, "guessed"):
        with pytest.raises(nats.errors.Error):
            asyncio.run(connect(wrong))
    asyncio.run(connect(runtime.config.secret("nats-password")))


def test_the_nats_probe_fails_at_once_when_nothing_listens():
    """`make up` waits on this probe; nats-py's own retrying made it wait for ever on a stopped nats-server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # bound, not listening: connections are refused
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable, match="not answering"):
            asyncio.run(natsq.check(f"nats://127.0.0.1:{closed}", "any"))
    assert time.monotonic() - started < 10


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """The TCP addresses process `pid` listens on (IPv4, from /proc)."""
    inodes = {link.split("[")[1][:-1] for fd in Path(f"/proc/{pid}/fd").iterdir()
              if (link := os.readlink(fd)).startswith("socket:[")}
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:] + Path("/proc/net/tcp6").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
            address, port = fields[1].split(":")
            host = socket.inet_ntoa(bytes.fromhex(address)[::-1]) if len(address) == 8 else address
            found.add((host, int(port, 16)))
    return found


def test_nats_listens_on_loopback_only_with_no_monitoring_port(runtime):
    pid = int(runtime.ctl("pid", "nats").stdout)
    assert listening_addresses(pid) == {("127.0.0.1", runtime.config.ports["nats"])}


def test_a_full_queue_answers_429_and_loses_none_it_accepted(tmp_path, tag):
    limits = {"GATEWAY_ASYNC_WORKERS": "1", "GATEWAY_QUEUE_MAX_CALLS": "6",
              "GATEWAY_QUEUE_MAX_BYTES": str(1024 * 1024), "NATS_MAX_PAYLOAD": str(256 * 1024)}
    with runtime_stack(tmp_path, env=limits) as small, CallbackReceiver() as callbacks:
        url = small.config.url("gateway")

        def send(body: bytes = b"", seconds: float = 0) -> requests.Response:
            return requests.post(f"{url}/async-function/worker/sleep/{seconds}?tag={tag}", data=body,
                                 headers={"X-Callback-Url": callbacks.url}, timeout=10)

        too_large = send(b"x" * 300_000)
        assert too_large.status_code == 413 and "NATS_MAX_PAYLOAD" in too_large.text
        hold = send(seconds=4.5)  # keeps the one worker busy (exec_timeout 5s): every call after it stays queued
        by_bytes = [send(b"x" * 250_000) for _ in range(5)]  # 4 fit in 1 MiB beside it, the 5th does not
        by_count = [send() for _ in range(12)]  # the 6th call fits, the 7th is one too many
        answers = [hold, *by_bytes, *by_count]
        accepted = [r.headers["X-Call-Id"] for r in answers if r.status_code == 202]
        refused = [r for r in answers if r.status_code != 202]

        assert [r.status_code for r in by_bytes] == [202] * 4 + [429] and "maximum bytes" in by_bytes[4].text
        assert [r.status_code for r in by_count] == [202] + [429] * 11
        assert all("maximum messages" in r.text and "X-Call-Id" not in r.headers for r in by_count[1:])
        results = callbacks.wait_for(accepted, timeout=60)
        assert {r.headers["X-Function-Status"] for r in results.values()} == {"200"}
        assert wait_until(lambda: queued_calls(small) == 0, 10)
        assert requests.get(f"{url}/function/worker/stats?tag={tag}", timeout=10).json()["hits"] == len(accepted)
        assert send().status_code == 202  # room again once the queue drained
    print(f"\nsmall queue: {len(accepted)} of {len(answers)} accepted, all run once; {len(refused)} answered 429")

DEFAULT_POLICY = RetryPolicy(attempts=3, min_wait=1.0, max_wait=60.0)


def test_retry_annotations_override_the_gateway_defaults():
    policy = policy_from_annotations({"com.openfaas.retry.attempts": "10", "com.openfaas.retry.codes": "429,502 504",
                                      "com.openfaas.retry.min_wait": "500ms", "com.openfaas.retry.max_wait": "2s"},
                                     DEFAULT_POLICY)
    assert policy == RetryPolicy(attempts=10, min_wait=0.5, max_wait=2.0, codes=frozenset({429, 502, 504}))
    assert [policy.wait(runs) for runs in range(1, 6)] == [0.5, 1.0, 2.0, 2.0, 2.0]  # doubling, capped
    assert policy.retries(429, 9) and not policy.retries(429, 10)  # ten runs in all
    assert not policy.retries(500, 1)  # only the codes listed


def test_without_annotations_any_5xx_is_retried_as_the_settings_say():
    policy = policy_from_annotations({"topic": "x"}, DEFAULT_POLICY)
    assert policy == DEFAULT_POLICY
    assert policy.retries(503, 2) and not policy.retries(503, 3) and not policy.retries(429, 1)


def test_invalid_or_unbounded_annotations_are_ignored_or_capped():
    policy = policy_from_annotations({"com.openfaas.retry.attempts": "1000000", "com.openfaas.retry.codes": "soon",
                                      "com.openfaas.retry.min_wait": "ten", "com.openfaas.retry.max_wait": "48h"},
                                     DEFAULT_POLICY)
    assert policy == RetryPolicy(attempts=3, min_wait=1.0, max_wait=300.0)
    assert policy_from_annotations({"com.openfaas.retry.codes": "200"}, DEFAULT_POLICY).codes is None


def test_train_models_retries_outlast_its_lock_lease():
    stack = load_stack_file(ROOT / "stack.yml", {})
    default = RetryPolicy(3, 1.0, load_gateway_settings({}).retry_max_wait)
    policy = policy_from_annotations(stack.functions["train-model"].annotations, default)
    assert 429 in policy.codes and 502 in policy.codes
    window = sum(policy.wait(runs) for runs in range(1, policy.attempts))
    lease = float(stack.functions["train-model"].environment["TRAINING_LOCK_LEASE_SECONDS"])
    assert window > 3 * lease, window


def test_nats_takes_secrets_that_read_like_numbers(tmp_path):
    """nats-server parses a `$VAR` reference as a value: an unquoted "-5s..." would be a number and stop it.

    The values reach it JSON-quoted, so a secret a user sets may also hold quotes and backslashes."""
    env = {"NATS_PASSWORD": '-5sNot"A\\Number', "NATS_STORE_KEY": "7sAlsoNotANumber0123456789abcdef"}
    with runtime_stack(tmp_path, env=env) as stack:
        assert stack.config.secret("nats-password") == env["NATS_PASSWORD"]
        assert queued_calls(stack) == 0
