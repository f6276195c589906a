"""The gateway: calls to functions, through the replicas the provider runs.

    /function/<name>[/<path>]        sync: method, path suffix, query, headers, body passed through
    /async-function/<name>[/<path>]  202 + X-Call-Id, queued on NATS JetStream, run by its workers (natsq)

The routes are in routes.py, the /system handlers in handlers.py, the types in types.py.
`<name>` may carry the namespace as OpenFaaS allows (`predict.openfaas-fn`). Unknown
functions answer 404; a function that cannot be reached answers 502 naming it, one that
runs past its exec_timeout 504. A call goes to the next ready replica in turn; one that
refuses the connection is skipped for the next one. A function scaled to zero is
started by its first call, which waits until it is ready.
"""

from __future__ import annotations

import logging
import time
import uuid

import aiohttp
import yarl
from aiohttp import web

from infra.gateway import edges
from infra.gateway.asyncq import Outcome, RetryPolicy, new_call, policy_from_annotations
from infra.gateway.metrics import GatewayMetrics
from infra.gateway.natsq import JetStreamQueue, QueueRefused, QueueSettings
from infra.gateway.provider import Provider
from infra.gateway.replicas import port_open
from infra.gateway.stackfile import NAMESPACE, Function, StackFile
from infra.gateway.upstream import ConnectionRefused, Upstream, UpstreamError
from shared.http import basic_auth_matches
from shared.settings import read_secret
from shared.settings.gateway import GatewaySettings

log = logging.getLogger("gateway")

# not forwarded either way: they describe one connection, not the message
HOP_BY_HOP = frozenset((
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
    "expect",  # the gateway answered any 100-continue itself and sends the body at once
))
NOT_PASSED_ON = HOP_BY_HOP | edges.NOT_FORWARDED  # a request's headers the function does not get
NOT_PASSED_BACK = HOP_BY_HOP | {"x-call-id", "x-duration-seconds"}  # an answer's: the gateway sets these


class FunctionUnreachable(Exception):
    def __init__(self, name: str, status: int, reason: str):
        super().__init__(f"function {name} {reason}")
        self.status = status
        self.message = f"function {name} {reason}\n"


def split_target(raw_path: str) -> tuple[str, str]:
    """`/function/<name>/a%20b?x=1` -> (`a%20b`, `x=1`), kept percent-encoded as sent."""
    path, _, query = raw_path.partition("?")
    parts = path.split("/", 3)
    return (parts[3] if len(parts) > 3 else ""), query


def forwarded_headers(pairs, call_id: str, client: str | None, host: str | None) -> list[tuple[str, str]]:
    headers = [(k, v) for k, v in pairs if k.lower() not in NOT_PASSED_ON]
    headers += [("X-Call-Id", call_id), ("X-Start-Time", str(time.time_ns())),
                ("X-Forwarded-For", client or ""), ("X-Forwarded-Host", host or "")]
    return headers


class Gateway:
    def __init__(self, settings: GatewaySettings, stack: StackFile):
        self.settings = settings
        self.stack = stack
        self.provider = Provider(settings, stack)
        self.metrics = GatewayMetrics()
        self.upstreams: dict[int, Upstream] = {}  # pooled connections, by function port
        self.credentials = (
            read_secret("basic-auth-user", secrets_dir=settings.secrets_dir),
            read_secret("basic-auth-password", secrets_dir=settings.secrets_dir),
        )
        self.default_retry = RetryPolicy(settings.async_max_attempts, settings.retry_delay, settings.retry_max_wait)
        self.retry_policies = {name: policy_from_annotations(fn.annotations, self.default_retry)
                               for name, fn in stack.functions.items()}
        queue_settings = QueueSettings(
            settings.nats_url, read_secret("nats-password", secrets_dir=settings.secrets_dir), settings.queue_max_calls,
            settings.queue_max_bytes, settings.ack_wait, settings.async_workers, settings.callbacks_at_once,
        )
        self.queue = JetStreamQueue(queue_settings, self.run_queued, self.report, self.retry_policy)
        self.session: aiohttp.ClientSession | None = None

    # --- lifecycle -----------------------------------------------------------------------
    async def startup(self, app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
        self.session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )
        await self.provider.replicas.start()
        await self.queue.start()

    async def cleanup(self, app: web.Application) -> None:
        await self.queue.stop()
        await self.provider.replicas.stop()
        for upstream in self.upstreams.values():
            upstream.close()
        if self.session is not None:
            await self.session.close()

    def retry_policy(self, function_name: str) -> RetryPolicy:
        return self.retry_policies.get(function_name, self.default_retry)

    # --- calling a function ----------------------------------------------------------------
    def upstream(self, port: int) -> Upstream:
        pool = self.upstreams.get(port)
        if pool is None:
            pool = self.upstreams[port] = Upstream(self.settings.host, port, self.settings.upstream_connections)
        return pool

    def resolve(self, raw_name: str) -> Function | None:
        return self.provider.resolve(raw_name)

    async def call(self, function: Function, method: str, path: str, query: str,
                   headers: list[tuple[str, str]], body: bytes) -> Outcome:
        await self.provider.ready_for_call(function)
        self.metrics.begin(function.name)
        started = time.perf_counter()
        try:
            outcome = await self.send(function, method, f"/{path}?{query}" if query else f"/{path}", headers, body)
        except FunctionUnreachable as exc:
            self.metrics.end(function.name, exc.status, time.perf_counter() - started)
            raise
        self.metrics.end(function.name, outcome.status, outcome.duration)
        return outcome

    async def send(self, function: Function, method: str, target: str,
                   headers: list[tuple[str, str]], body: bytes) -> Outcome:
        """To the next ready replica; one that refuses the connection got nothing, so the next one gets it."""
        for port in self.provider.replicas.order(function.name):
            started = time.perf_counter()
            try:
                status, answer_headers, payload = await self.upstream(port).request(
                    method, target, headers, body, function.timeout)
            except ConnectionRefused:
                self.provider.replicas.mark_down(function.name, port)
                continue
            except TimeoutError:
                raise FunctionUnreachable(function.name, 504, f"timed out after {function.timeout:g}s") from None
            except UpstreamError as exc:
                # dropped or reset without an answer: if the replica is gone (killed, crashed) the call
                # died with it, and the next ready replica runs it; a live one's drop is a 502
                if await port_open(self.settings.host, port):
                    raise FunctionUnreachable(function.name, 502, f"is not reachable: it {exc}") from None
                self.provider.replicas.mark_down(function.name, port)
                continue
            kept = [(k, v) for k, v in answer_headers if k.lower() not in NOT_PASSED_BACK]
            return Outcome(status, kept, payload, time.perf_counter() - started)
        raise FunctionUnreachable(function.name, 502, "is not reachable (no ready replica answered)")

    async def sync_call(self, request: web.Request) -> web.StreamResponse:
        function = self.resolve(request.match_info["name"])
        if function is None:
            return not_found(request.match_info["name"])
        body = await edges.read_body(request, self.settings)
        status, headers, payload = await self.proxy(function, request.method, request.raw_path,
                                                    request.headers.items(), request.remote, request.host, body)
        return web.Response(status=status, body=payload, headers=headers)

    async def proxy(self, function: Function, method: str, raw_path: str, header_pairs, client: str | None,
                    host: str | None, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """A sync call's answer (status, headers, body), a 502/504 of the gateway's own included."""
        pairs = list(header_pairs)
        call_id = next((v for k, v in pairs if k.lower() == "x-call-id"), "") or str(uuid.uuid4())
        headers = forwarded_headers(pairs, call_id, client, host)
        path, query = split_target(raw_path)
        try:
            outcome = await self.call(function, method, path, query, headers, body)
        except FunctionUnreachable as exc:
            log.warning("%s (call %s)", exc, call_id)
            return exc.status, [("Content-Type", "text/plain; charset=utf-8"), ("X-Call-Id", call_id)], \
                exc.message.encode()
        return outcome.status, [*outcome.headers, ("X-Call-Id", call_id),
                                ("X-Duration-Seconds", f"{outcome.duration:.6f}")], outcome.body

    # --- async -----------------------------------------------------------------------------
    async def async_call(self, request: web.Request) -> web.Response:
        function = self.resolve(request.match_info["name"])
        if function is None:
            return not_found(request.match_info["name"])
        callback = request.headers.get("X-Callback-Url")
        refused = self.refuse_callback(callback) if callback else None
        if refused:
            return web.Response(status=400, text=f"X-Callback-Url {refused}\n")
        path, query = split_target(request.raw_path)
        call_id = str(uuid.uuid4())  # always the gateway's own: a client's X-Call-Id is dropped
        theirs = [(k, v) for k, v in request.headers.items() if k.lower() != "x-call-id"]
        headers = forwarded_headers(theirs, call_id, request.remote, request.host)
        body = await edges.read_body(request, self.settings)
        call = new_call(call_id, function.name, request.method, path, query, headers, body, callback)
        try:
            await self.queue.accept(call)
        except QueueRefused as exc:
            log.warning("async %s refused: %s", function.name, exc.message)
            return web.Response(status=exc.status, text=exc.message + "\n")
        return web.Response(status=202, headers={"X-Call-Id": call_id})

    def refuse_callback(self, url: str) -> str | None:
        """Why the gateway will not call `url` back, or None: http(s) to a GATEWAY_CALLBACK_HOSTS host only."""
        try:
            parsed = yarl.URL(url)
        except ValueError:
            return "is not a URL"
        if parsed.scheme not in ("http", "https") or not parsed.host:
            return "must be an http:// or https:// URL"
        if parsed.host.lower() not in self.settings.callback_hosts:
            return f"names host {parsed.host}, which is not in GATEWAY_CALLBACK_HOSTS"
        return None

    async def run_queued(self, call: dict) -> Outcome:
        function = self.resolve(call["function"])
        if function is None:
            return Outcome(404, [], f"function {call['function']} is no longer in the stack\n".encode(), 0.0)
        try:
            return await self.call(function, call["method"], call["path"], call["query"],
                                   [tuple(pair) for pair in call["headers"]], call["body"])
        except FunctionUnreachable as exc:
            return Outcome(exc.status, [("Content-Type", "text/plain")], exc.message.encode(), 0.0)

    async def report(self, call: dict, outcome: Outcome) -> None:
        level = logging.INFO if outcome.status < 400 else logging.WARNING
        log.log(level, "async %s %s -> %d after %d run(s)", call["function"], call["id"], outcome.status,
                call["attempts"])
        if not call.get("callback_url"):
            return
        headers = {k: v for k, v in outcome.headers if k.lower() == "content-type"}
        headers.update({
            "X-Call-Id": call["id"], "X-Function-Name": call["function"],
            "X-Function-Status": str(outcome.status), "X-Duration-Seconds": f"{outcome.duration:.6f}",
        })
        timeout = aiohttp.ClientTimeout(total=self.settings.callback_timeout)
        try:
            async with self.session.post(call["callback_url"], data=outcome.body, headers=headers,
                                         timeout=timeout, allow_redirects=False) as response:
                await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("callback for %s to %s failed (%s)", call["id"], call["callback_url"], type(exc).__name__)

    # --- /system ---------------------------------------------------------------------------
    def authorized(self, authorization: str | None) -> bool:
        return basic_auth_matches(authorization or "", *self.credentials)


def not_found(name: str) -> web.Response:
    return web.Response(status=404, text=f"error finding function {name}: not found in {NAMESPACE}\n")


def create_app(settings: GatewaySettings, stack: StackFile) -> web.Application:
    from infra.gateway.routes import add_routes

    gateway = Gateway(settings, stack)
    app = web.Application(client_max_size=settings.max_body_bytes, handler_args=edges.handler_args(settings))
    edges.install(app)
    app["gateway"] = gateway
    app.on_startup.append(gateway.startup)
    app.on_cleanup.append(gateway.cleanup)
    add_routes(app)
    return app
