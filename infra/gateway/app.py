"""The gateway's HTTP API: the OpenFaaS routes that faas-cli, the connectors and callers use.

    /function/<name>[/<path>]        sync: method, path suffix, query, headers, body passed through
    /async-function/<name>[/<path>]  202 + X-Call-Id, queued on NATS JetStream, run by its workers (natsq)
    /system/functions, /system/function/<name>, /system/namespaces, /system/info
                                     built from stack.yml, behind basic auth (secret files)
    /healthz

`<name>` may carry the namespace as OpenFaaS allows (`predict.openfaas-fn`). Unknown
functions answer 404; a function that cannot be reached answers 502 naming it, one that
runs past its exec_timeout 504.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import platform
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
import yaml
import yarl
from aiohttp import web

from infra.gateway import edges
from infra.gateway.asyncq import Outcome, RetryPolicy, new_call, policy_from_annotations
from infra.gateway.natsq import JetStreamQueue, QueueRefused, QueueSettings
from infra.gateway.settings import GatewaySettings
from infra.gateway.stackfile import NAMESPACE, Function, StackFile, function_ports, template_dir
from shared.settings import read_secret

log = logging.getLogger("gateway")

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
# not forwarded either way: they describe one connection, not the message
HOP_BY_HOP = frozenset((
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
))
VERSION = "0.1.0"


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
    headers = [(k, v) for k, v in pairs if k.lower() not in HOP_BY_HOP and k.lower() not in edges.NOT_FORWARDED]
    headers += [("X-Call-Id", call_id), ("X-Start-Time", str(time.time_ns())),
                ("X-Forwarded-For", client or ""), ("X-Forwarded-Host", host or "")]
    return headers


class Gateway:
    def __init__(self, settings: GatewaySettings, stack: StackFile):
        self.settings = settings
        self.stack = stack
        self.ports = function_ports(stack, settings.functions_port_base)
        self.timeouts = {name: aiohttp.ClientTimeout(total=fn.timeout) for name, fn in stack.functions.items()}
        self.invocations: Counter[str] = Counter()
        self.started_at = datetime.now(UTC)
        self.credentials = (
            read_secret("basic-auth-user", secrets_dir=settings.secrets_dir).encode(),
            read_secret("basic-auth-password", secrets_dir=settings.secrets_dir).encode(),
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
        await self.queue.start()

    async def cleanup(self, app: web.Application) -> None:
        await self.queue.stop()
        if self.session is not None:
            await self.session.close()

    def retry_policy(self, function_name: str) -> RetryPolicy:
        return self.retry_policies.get(function_name, self.default_retry)

    # --- calling a function ----------------------------------------------------------------
    def resolve(self, raw_name: str) -> Function | None:
        name, _, namespace = raw_name.partition(".")
        if namespace and namespace != NAMESPACE:
            return None
        return self.stack.functions.get(name)

    async def call(self, function: Function, method: str, path: str, query: str,
                   headers: list[tuple[str, str]], body: bytes) -> Outcome:
        url = f"http://{self.settings.host}:{self.ports[function.name]}/{path}"
        if query:
            url = f"{url}?{query}"
        target = yarl.URL(url, encoded=True)
        self.invocations[function.name] += 1
        started = time.perf_counter()
        try:
            async with self.session.request(method, target, headers=headers, data=body or None,
                                            timeout=self.timeouts[function.name]) as response:
                payload = await response.read()
                kept = [(k, v) for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP]
                return Outcome(response.status, kept, payload, time.perf_counter() - started)
        except TimeoutError:
            raise FunctionUnreachable(function.name, 504, f"timed out after {function.timeout:g}s") from None
        except aiohttp.ClientError as exc:
            raise FunctionUnreachable(function.name, 502, f"is not reachable ({type(exc).__name__})") from None

    async def sync_call(self, request: web.Request) -> web.StreamResponse:
        function = self.resolve(request.match_info["name"])
        if function is None:
            return not_found(request.match_info["name"])
        call_id = request.headers.get("X-Call-Id") or str(uuid.uuid4())
        headers = forwarded_headers(request.headers.items(), call_id, request.remote, request.host)
        path, query = split_target(request.raw_path)
        body = await edges.read_body(request, self.settings)
        try:
            outcome = await self.call(function, request.method, path, query, headers, body)
        except FunctionUnreachable as exc:
            log.warning("%s (call %s)", exc, call_id)
            return web.Response(status=exc.status, text=exc.message, headers={"X-Call-Id": call_id})
        response = web.Response(status=outcome.status, body=outcome.body, headers=outcome.headers)
        response.headers["X-Call-Id"] = call_id
        response.headers["X-Duration-Seconds"] = f"{outcome.duration:.6f}"
        return response

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
        function = self.stack.functions.get(call["function"])
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
    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).partition(b":")
        except (binascii.Error, ValueError):
            return False
        expected_user, expected_password = self.credentials
        return hmac.compare_digest(user, expected_user) & hmac.compare_digest(password, expected_password)

    async def function_status(self, function: Function) -> dict:
        available = await port_open(self.settings.host, self.ports[function.name])
        return {
            "name": function.name,
            "image": function.image,
            "namespace": NAMESPACE,
            "envProcess": function.fprocess or template_fprocess(self.stack, function),
            "envVars": function.environment,
            "secrets": list(function.secrets),
            "labels": function.labels,
            "annotations": function.annotations,
            "invocationCount": self.invocations[function.name],
            "replicas": 1,
            "availableReplicas": 1 if available else 0,
            "createdAt": self.started_at.isoformat().replace("+00:00", "Z"),
        }

    async def list_functions(self, request: web.Request) -> web.Response:
        if request.query.get("namespace", NAMESPACE) != NAMESPACE:
            return web.json_response([])
        statuses = await asyncio.gather(*(self.function_status(f) for f in self.stack.functions.values()))
        return web.json_response(list(statuses))

    async def describe_function(self, request: web.Request) -> web.Response:
        function = self.resolve(request.match_info["name"])
        if function is None or request.query.get("namespace", NAMESPACE) != NAMESPACE:
            return not_found(request.match_info["name"])
        return web.json_response(await self.function_status(function))

    async def namespaces(self, request: web.Request) -> web.Response:
        return web.json_response([NAMESPACE])

    async def info(self, request: web.Request) -> web.Response:
        version = {"sha": "", "release": VERSION}
        return web.json_response({
            "provider": {"provider": "covertype-local-runtime", "orchestration": "process", "version": version},
            "version": version,
            "arch": platform.machine(),
        })

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="OK")


def not_found(name: str) -> web.Response:
    return web.Response(status=404, text=f"error finding function {name}: not found in {NAMESPACE}\n")


def template_fprocess(stack: StackFile, function: Function) -> str:
    template = template_dir(stack, function) / "template.yml"
    try:
        return str(yaml.safe_load(template.read_text()).get("fprocess", ""))
    except (OSError, AttributeError, yaml.YAMLError):
        return ""


async def port_open(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=0.5)
    except (TimeoutError, OSError):
        return False
    writer.close()
    return True


def basic_auth(gateway: Gateway, handler: Callable[[web.Request], Awaitable[web.Response]]):
    async def guarded(request: web.Request) -> web.Response:
        if not gateway.authorized(request.headers.get("Authorization")):
            return web.Response(status=401, text="Unauthorized\n",
                                headers={"WWW-Authenticate": 'Basic realm="OpenFaaS API"'})
        return await handler(request)

    return guarded


def create_app(settings: GatewaySettings, stack: StackFile) -> web.Application:
    gateway = Gateway(settings, stack)
    app = web.Application(client_max_size=settings.max_body_bytes, handler_args=edges.handler_args(settings))
    edges.install(app)
    app["gateway"] = gateway
    app.on_startup.append(gateway.startup)
    app.on_cleanup.append(gateway.cleanup)
    for method in METHODS:
        app.router.add_route(method, "/function/{name}", gateway.sync_call)
        app.router.add_route(method, "/function/{name}/{path:.*}", gateway.sync_call)
    for method in ("POST", "PUT", "GET"):
        app.router.add_route(method, "/async-function/{name}", gateway.async_call)
        app.router.add_route(method, "/async-function/{name}/{path:.*}", gateway.async_call)
    app.router.add_get("/system/functions", basic_auth(gateway, gateway.list_functions))
    app.router.add_get("/system/function/{name}", basic_auth(gateway, gateway.describe_function))
    app.router.add_get("/system/namespaces", basic_auth(gateway, gateway.namespaces))
    app.router.add_get("/system/info", basic_auth(gateway, gateway.info))
    app.router.add_get("/healthz", gateway.healthz)
    return app
