"""faas-provider's request and status types (its `types/` package), parsed and checked here.

Every parser takes the decoded JSON (or the query) and raises BadRequest naming the
field when a value is missing or of the wrong kind, so a handler changes nothing
unless the whole request is valid.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from infra.gateway.stackfile import NAMESPACE

# a function or secret name: what faas-provider's routes accept, and a plain file name
NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9_.]{0,252}")


class BadRequest(Exception):
    """A request the gateway refuses: `status` and a message naming the field."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def _object(body, what: str) -> dict:
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object ({what})")
    return body


def _name(value, field_name: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value) or value in (".", ".."):
        raise BadRequest(f"{field_name} must be a name of letters, digits, '-', '_' or '.' (got {value!r})")
    return value


def _namespace(body: Mapping) -> str:
    namespace = body.get("namespace") or NAMESPACE
    if namespace != NAMESPACE:
        raise BadRequest(f"namespace {namespace!r} does not exist: this gateway serves only {NAMESPACE}", 404)
    return namespace


def _strings(body: Mapping, field_name: str) -> dict[str, str]:
    value = body.get(field_name)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BadRequest(f"{field_name} must be an object of string values")
    return dict(value)


@dataclass(frozen=True)
class FunctionResources:
    memory: str = ""
    cpu: str = ""


def _resources(body: Mapping, field_name: str) -> FunctionResources | None:
    value = body.get(field_name)
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(value.get(k, ""), str) for k in ("memory", "cpu")):
        raise BadRequest(f"{field_name} must be an object with string memory and cpu")
    return FunctionResources(memory=value.get("memory", ""), cpu=value.get("cpu", ""))


@dataclass(frozen=True)
class FunctionDeployment:
    """What `POST`/`PUT /system/functions` carries (faas-provider's FunctionDeployment)."""

    service: str
    image: str = ""
    env_process: str = ""
    env_vars: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    limits: FunctionResources | None = None
    requests: FunctionResources | None = None

    @classmethod
    def parse(cls, body) -> FunctionDeployment:
        body = _object(body, "a FunctionDeployment")
        _namespace(body)
        secrets = body.get("secrets") or []
        if not isinstance(secrets, list):
            raise BadRequest("secrets must be a list of secret names")
        image = body.get("image", "")
        if not isinstance(image, str):
            raise BadRequest("image must be a string")
        env_process = body.get("envProcess", "")
        if not isinstance(env_process, str):
            raise BadRequest("envProcess must be a string")
        return cls(
            service=_name(body.get("service"), "service"),
            image=image,
            env_process=env_process,
            env_vars=_strings(body, "envVars"),
            secrets=tuple(_name(s, "secrets[]") for s in secrets),
            labels=_strings(body, "labels"),
            annotations=_strings(body, "annotations"),
            limits=_resources(body, "limits"),
            requests=_resources(body, "requests"),
        )

    def to_json(self) -> dict:
        return {
            "service": self.service, "image": self.image, "envProcess": self.env_process,
            "envVars": self.env_vars, "secrets": list(self.secrets), "labels": self.labels,
            "annotations": self.annotations,
            "limits": asdict(self.limits) if self.limits else None,
            "requests": asdict(self.requests) if self.requests else None,
        }


def parse_delete(body) -> str:
    """DeleteFunctionRequest: the function's name."""
    body = _object(body, "a DeleteFunctionRequest")
    _namespace(body)
    return _name(body.get("functionName"), "functionName")


def parse_replicas(body) -> int:
    """ScaleServiceRequest: the wanted replica count (the name comes from the path)."""
    body = _object(body, "a ScaleServiceRequest")
    _namespace(body)
    replicas = body.get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise BadRequest(f"replicas must be a whole number of 0 or more (got {replicas!r})")
    return replicas


@dataclass(frozen=True)
class Secret:
    name: str
    value: bytes

    @classmethod
    def parse(cls, body, need_value: bool = True) -> Secret:
        """faas-provider's Secret: `value` (text) or `rawValue` (base64, decoded by the JSON layer in Go)."""
        body = _object(body, "a Secret")
        _namespace(body)
        name = _name(body.get("name"), "name")
        if not need_value:
            return cls(name, b"")
        if isinstance(body.get("rawValue"), str) and body["rawValue"]:
            try:
                return cls(name, base64.b64decode(body["rawValue"], validate=True))
            except binascii.Error:
                raise BadRequest("rawValue must be base64") from None
        value = body.get("value")
        if not isinstance(value, str) or not value:
            raise BadRequest("value (or rawValue) must hold the secret")
        return cls(name, value.encode())


@dataclass(frozen=True)
class LogRequest:
    """`GET /system/logs` query: name, namespace, instance, since (RFC 3339), tail, follow."""

    name: str
    instance: str = ""
    since: datetime | None = None
    tail: int = -1
    follow: bool = False

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> LogRequest:
        _namespace(query)
        name = _name(query.get("name"), "name")
        since = None
        if query.get("since"):
            try:
                since = datetime.fromisoformat(query["since"].replace("Z", "+00:00"))
            except ValueError:
                raise BadRequest(f"since must be an RFC 3339 time (got {query['since']!r})") from None
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
        try:
            tail = int(query.get("tail") or -1)
        except ValueError:
            raise BadRequest(f"tail must be a whole number (got {query['tail']!r})") from None
        follow = (query.get("follow") or "false").lower()
        if follow not in ("true", "false", "1", "0"):
            raise BadRequest(f"follow must be true or false (got {query['follow']!r})")
        return cls(name, query.get("instance", ""), since, tail, follow in ("true", "1"))


def log_message(name: str, instance: str, timestamp: datetime, text: str) -> dict:
    """faas-provider's logs.Message."""
    stamp = timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {"name": name, "namespace": NAMESPACE, "instance": instance, "timestamp": stamp, "text": text}


def function_namespace(name: str) -> dict:
    """faas-provider's FunctionNamespace."""
    return {"name": name, "labels": {}, "annotations": {}}


def function_status(function, *, env_process: str, replicas: int, available: int, invocations: int,
                    created_at: datetime, limits: FunctionResources | None) -> dict:
    """faas-provider's FunctionStatus for a function as deployed."""
    status = {
        "name": function.name,
        "image": function.image,
        "namespace": NAMESPACE,
        "envProcess": env_process,
        "envVars": function.environment,
        "secrets": list(function.secrets),
        "labels": function.labels,
        "annotations": function.annotations,
        "invocationCount": invocations,
        "replicas": replicas,
        "availableReplicas": available,
        "createdAt": created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    if limits is not None:
        status["limits"] = asdict(limits)
    return status
