"""Helpers for the requests the functions receive.

`parse_json` is the one way a function reads a JSON body: it refuses, with a 4xx naming
the body, anything over a size limit, malformed JSON, and JSON nested deeper than
`max_depth` (the standard library's parser overflows Python's stack on very deep input
and answered 500 RecursionError; orjson has no such failure and stops at 1024 levels
itself, and the walk here keeps what handlers receive much shallower than that).
"""

from __future__ import annotations

import orjson

from shared.errors import BadRequest, PayloadTooLarge

MAX_DEPTH = 32  # our bodies nest 3 (predict) to 6 (a MinIO event) levels deep
CONTAINERS = frozenset((dict, list))  # what orjson builds


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
