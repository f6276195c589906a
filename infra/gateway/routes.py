"""The route table, in one place, as faas-provider's serve.go lays it out.

Every handler is wrapped by `instrumented`: basic auth where the route asks for it, a
BadRequest (or an unavailable process control) as its status and message, one debug log
line per request. A path no route serves answers 404, and a method a path does not
take 405, both with a message naming the reason and the methods that work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from infra.gateway import handlers as h
from infra.gateway.replicas import ProcessControlUnavailable
from infra.gateway.types import BadRequest

log = logging.getLogger("gateway")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ANY = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
QUEUED = ("POST", "PUT", "GET")


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    path: str
    handler: Handler
    auth: bool = True


ROUTES: list[Route] = [
    Route(("GET",), "/system/functions", h.function_lister),
    Route(("POST",), "/system/functions", h.deploy),
    Route(("PUT",), "/system/functions", h.update),
    Route(("DELETE",), "/system/functions", h.delete),
    Route(("GET",), "/system/function/{name}", h.replica_reader),
    Route(("POST",), "/system/scale-function/{name}", h.replica_updater),
    Route(("GET",), "/system/secrets", h.secret_lister),
    Route(("POST",), "/system/secrets", h.secret_creator),
    Route(("PUT",), "/system/secrets", h.secret_updater),
    Route(("DELETE",), "/system/secrets", h.secret_deleter),
    Route(("GET",), "/system/logs", h.log_handler),
    Route(("GET",), "/system/namespaces", h.namespace_lister),
    Route(("GET",), "/system/namespace/{name}", h.namespace_reader),
    Route(("GET",), "/system/info", h.info),
    Route(ANY, "/function/{name}", h.function_proxy, auth=False),
    Route(ANY, "/function/{name}/{path:.*}", h.function_proxy, auth=False),
    Route(QUEUED, "/async-function/{name}", h.async_function_proxy, auth=False),
    Route(QUEUED, "/async-function/{name}/{path:.*}", h.async_function_proxy, auth=False),
    Route(("GET",), "/healthz", h.health, auth=False),
    Route(("GET",), "/metrics", h.metrics, auth=False),
]


def text(status: int, message: str, **headers: str) -> web.Response:
    return web.Response(status=status, text=message.rstrip("\n") + "\n", headers=headers)


def instrumented(route: Route) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        if route.auth and not request.app["gateway"].authorized(request.headers.get("Authorization")):
            return text(401, "Unauthorized: this route needs the gateway's basic auth",
                        **{"WWW-Authenticate": 'Basic realm="OpenFaaS API"'})
        try:
            response = await route.handler(request)
        except BadRequest as exc:
            response = text(exc.status, exc.message)
        except ProcessControlUnavailable as exc:
            response = text(503, exc.message)
        log.debug("%s %s -> %d in %.1f ms", request.method, route.path, response.status,
                  (time.perf_counter() - started) * 1000)
        return response

    handle.__name__ = route.handler.__name__
    return handle


@web.middleware
async def unrouted(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp answers unknown paths and methods before any handler: say why instead of a bare status."""
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        return text(405, f"method {request.method} is not allowed on {request.path}: use {allowed}",
                    Allow=allowed)
    except web.HTTPNotFound:
        return text(404, f"no route for {request.path}: see the OpenFaaS gateway API (/function/<name>, /system/...)")


def add_routes(app: web.Application) -> None:
    app.middlewares.append(unrouted)
    for route in ROUTES:
        wrapped = instrumented(route)
        for method in route.methods:
            app.router.add_route(method, route.path, wrapped)
