"""One handler per route (the table is in routes.py), as faas-provider names them.

A handler raises BadRequest for what it cannot serve; routes.py turns that into the
status and message. Bodies are faas-provider's types (types.py).
"""

from __future__ import annotations

import json
import platform

import yaml
from aiohttp import web

from infra.gateway import logs as function_logs
from infra.gateway import state
from infra.gateway.metrics import CONTENT_TYPE_LATEST
from infra.gateway.stackfile import NAMESPACE, Function, template_dir
from infra.gateway.types import (
    BadRequest,
    FunctionDeployment,
    LogRequest,
    Secret,
    function_namespace,
    function_status,
    parse_delete,
    parse_replicas,
)

VERSION = "0.2.0"


def _gateway(request: web.Request):
    return request.app["gateway"]


async def _json(request: web.Request):
    try:
        return json.loads(await request.read() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("the body is not valid JSON") from None


def _namespace_query(request: web.Request) -> None:
    namespace = request.query.get("namespace") or NAMESPACE
    if namespace != NAMESPACE:
        raise BadRequest(f"namespace {namespace!r} does not exist: this gateway serves only {NAMESPACE}", 404)


def _envprocess(gateway, function: Function) -> str:
    if function.fprocess:
        return function.fprocess
    try:
        template = yaml.safe_load((template_dir(gateway.stack, function) / "template.yml").read_text())
        return str(template.get("fprocess", ""))
    except (OSError, AttributeError, yaml.YAMLError):
        return ""


async def _status(gateway, function: Function) -> dict:
    provider = gateway.provider
    await provider.replicas.probe(function.name)
    return function_status(
        function, env_process=_envprocess(gateway, function),
        replicas=provider.replicas.wanted[function.name], available=len(provider.replicas.ready[function.name]),
        invocations=gateway.metrics.invocation_count(function.name),
        created_at=provider.created_at[function.name], limits=state.limits(provider.records.get(function.name)),
    )


# --- functions ---------------------------------------------------------------------------
async def function_lister(request: web.Request) -> web.Response:
    if (request.query.get("namespace") or NAMESPACE) != NAMESPACE:
        return web.json_response([])
    gateway = _gateway(request)
    return web.json_response([await _status(gateway, fn) for fn in gateway.provider.deployed()])


async def deploy(request: web.Request) -> web.Response:
    deployment = FunctionDeployment.parse(await _json(request))
    await _gateway(request).provider.deploy(deployment, update=False)
    return web.Response(status=202, text=f"function {deployment.service} deployed\n")


async def update(request: web.Request) -> web.Response:
    deployment = FunctionDeployment.parse(await _json(request))
    await _gateway(request).provider.deploy(deployment, update=True)
    return web.Response(status=202, text=f"function {deployment.service} updated\n")


async def delete(request: web.Request) -> web.Response:
    _namespace_query(request)
    name = parse_delete(await _json(request))
    await _gateway(request).provider.remove(name)
    return web.Response(status=202, text=f"function {name} removed\n")


async def replica_reader(request: web.Request) -> web.Response:
    _namespace_query(request)
    gateway = _gateway(request)
    return web.json_response(await _status(gateway, gateway.provider.known(request.match_info["name"])))


async def replica_updater(request: web.Request) -> web.Response:
    _namespace_query(request)
    replicas = parse_replicas(await _json(request))
    name = request.match_info["name"]
    await _gateway(request).provider.scale(name, replicas)
    return web.Response(status=202, text=f"function {name} scaled to {replicas} replica(s)\n")


# --- secrets -----------------------------------------------------------------------------
async def secret_lister(request: web.Request) -> web.Response:
    _namespace_query(request)
    names = _gateway(request).provider.secret_names()
    return web.json_response([{"name": name, "namespace": NAMESPACE} for name in names])


async def secret_creator(request: web.Request) -> web.Response:
    secret = Secret.parse(await _json(request))
    _gateway(request).provider.write_secret(secret, create=True)
    return web.Response(status=201, text=f"secret {secret.name} created\n")


async def secret_updater(request: web.Request) -> web.Response:
    secret = Secret.parse(await _json(request))
    _gateway(request).provider.write_secret(secret, create=False)
    return web.Response(status=200, text=f"secret {secret.name} updated (functions see it after their next deploy)\n")


async def secret_deleter(request: web.Request) -> web.Response:
    secret = Secret.parse(await _json(request), need_value=False)
    _gateway(request).provider.delete_secret(secret.name)
    return web.Response(status=200, text=f"secret {secret.name} removed\n")


# --- logs --------------------------------------------------------------------------------
async def log_handler(request: web.Request) -> web.StreamResponse:
    log_request = LogRequest.parse(request.query)
    provider = _gateway(request).provider
    function = provider.known(log_request.name)
    replica_logs = provider.replica_logs(function.name, log_request.instance)
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    async for message in function_logs.stream(log_request, replica_logs):
        if request.transport is None or request.transport.is_closing():
            break
        if message is not None:
            await response.write(json.dumps(message).encode() + b"\n")
    await response.write_eof()
    return response


# --- namespaces, info, health, metrics ---------------------------------------------------
async def namespace_lister(request: web.Request) -> web.Response:
    return web.json_response([NAMESPACE])


async def namespace_reader(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name != NAMESPACE:
        raise BadRequest(f"namespace {name} not found: this gateway serves only {NAMESPACE}", 404)
    return web.json_response(function_namespace(name))


async def info(request: web.Request) -> web.Response:
    version = {"sha": "", "release": VERSION}
    return web.json_response({
        "provider": {"provider": "covertype-local-runtime", "orchestration": "process", "version": version},
        "version": version,
        "arch": platform.machine(),
    })


async def health(request: web.Request) -> web.Response:
    return web.Response(text="OK")


async def metrics(request: web.Request) -> web.Response:
    gateway = _gateway(request)
    ready = {fn.name: len(gateway.provider.replicas.ready[fn.name]) for fn in gateway.provider.deployed()}
    return web.Response(body=gateway.metrics.exposition(ready), headers={"Content-Type": CONTENT_TYPE_LATEST})


# --- calls -------------------------------------------------------------------------------
async def function_proxy(request: web.Request) -> web.StreamResponse:
    return await _gateway(request).sync_call(request)


async def async_function_proxy(request: web.Request) -> web.StreamResponse:
    return await _gateway(request).async_call(request)
