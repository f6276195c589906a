"""The HTTP edge the functions (and the gateway's /system) share: reading a request, checking
who calls, and answering with one body shape (`shared.errors`: `{"error": ..., "details": [...]}`).

`parse_json` is the one way a function reads a JSON body: it refuses, with a 4xx naming
the body, anything over a size limit, malformed JSON, and JSON nested deeper than
`max_depth` (the standard library's parser overflows Python's stack on very deep input
and answered 500 RecursionError; orjson has no such failure and stops at 1024 levels
itself, and the walk here keeps what handlers receive much shallower than that).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping, Sequence

import orjson

from shared.errors import BadRequest, MethodNotAllowed, PayloadTooLarge, PipelineError

MAX_DEPTH = 32  # our bodies nest 3 (predict) to 6 (a MinIO event) levels deep
CONTAINERS = frozenset((dict, list))  # what orjson builds
JSON = {"Content-Type": "application/json"}


# --- reading a request ------------------------------------------------------------------------
def header(headers: Mapping[str, str] | None, name: str) -> str:
    """A request header's value whatever the case of its name; "" when it was not sent."""
    if headers and name in headers:
        return headers[name]
    wanted = name.lower()
    return next((value for key, value in (headers or {}).items() if key.lower() == wanted), "")


def require_method(method: str, allowed: Sequence[str], function: str) -> None:
    """MethodNotAllowed (405, naming the field) unless `method` is one `function` takes."""
    if method not in allowed:
        raise MethodNotAllowed(f"method: {function} takes {' or '.join(allowed)}, not {method or 'none'}",
                               details=[{"field": "method", "error": f"{method} not allowed"}])


def parse_json(body: bytes | str | None, *, max_bytes: int, max_depth: int = MAX_DEPTH, what: str = "body"):
    """The parsed JSON value of `body`; PayloadTooLarge (413) or BadRequest (400) naming `what`."""
    raw = body.encode() if isinstance(body, str) else (body or b"")
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"{what}: {len(raw)} bytes is over the limit of {max_bytes}",
                              details=[{"field": what, "error": f"over {max_bytes} bytes"}])
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"{what}: malformed JSON ({exc})",
                         details=[{"field": what, "error": "malformed JSON"}]) from None
    if depth_over(value, max_depth):
        raise BadRequest(f"{what}: JSON nested deeper than {max_depth} levels",
                         details=[{"field": what, "error": f"nested deeper than {max_depth} levels"}])
    return value


def depth_over(value: object, limit: int) -> bool:
    """Whether `value` nests containers more than `limit` deep; level by level, no recursion."""
    level = [value] if type(value) in CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        deeper = []
        for node in level:
            children = node.values() if type(node) is dict else node
            if not CONTAINERS.isdisjoint(map(type, children)):  # the common leaf case stays in C
                deeper += [child for child in children if type(child) in CONTAINERS]
        level = deeper
    return False


# --- who calls ----------------------------------------------------------------------------------
def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison; nothing given, or nothing expected, never matches."""
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def bearer_token(authorization: str) -> str:
    """The token of a `Bearer` Authorization value; "" for any other value."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """(user, password) of a `Basic` Authorization value: strict base64 of UTF-8 `user:password`; None otherwise."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if colon else None


def basic_auth_matches(authorization: str, user: str, password: str) -> bool:
    """Whether the value carries exactly these credentials; both are compared, whichever is wrong."""
    given = basic_credentials(authorization) or ("", "")
    user_ok = same_secret(given[0], user)
    return same_secret(given[1], password) and user_ok


# --- answering ----------------------------------------------------------------------------------
def json_response(status: int, body: object) -> dict:
    """A python3-http style answer; serialised with orjson (numpy-free, fast for 1,000-row answers)."""
    return {"statusCode": status, "body": orjson.dumps(body), "headers": JSON}


def error_response(exc: PipelineError) -> dict:
    """The answer to a pipeline error: its status, and `{"error": ..., "details": [...]}`."""
    return json_response(exc.status, exc.to_body())
