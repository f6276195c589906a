"""The one validator every settings section reads through (`read`), and the rules it applies.

A rule parses an environment variable's text (raising ValueError on a bad value) and says
the fix; `read` turns a bad value into a ConfigError naming the variable and that fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from shared.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Rule(Generic[T]):
    parse: Callable[[str], T]  # raises ValueError on a bad value
    fix: str  # what to write instead: "use ..."


def read(env: Mapping[str, str], name: str, default: str, rule: Rule[T], fix: str | None = None) -> T:
    """`env[name]` (else `default`) parsed by `rule`; a bad one raises ConfigError naming it and the fix."""
    raw = env.get(name, default)
    try:
        return rule.parse(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is invalid: {fix or rule.fix}") from None


def _check(test: Callable[[str], bool], convert: Callable[[str], T] = str) -> Callable[[str], T]:
    def parse(raw: str) -> T:
        if not test(raw):
            raise ValueError(raw)
        return convert(raw)
    return parse


def at_least(kind: type[int] | type[float], minimum: float) -> Rule:
    """An integer (or number) of at least `minimum`."""
    def parse(raw: str):
        value = kind(raw)
        if not value >= minimum:
            raise ValueError(raw)
        return value
    return Rule(parse, f"use {'an integer' if kind is int else 'a number'} >= {minimum:g}")


def one_of(choices: tuple[str, ...], fix: str) -> Rule[str]:
    return Rule(_check(lambda raw: raw in choices), fix)


def matching(pattern: str, fix: str) -> Rule[str]:
    """Text matching the whole of `pattern`."""
    return Rule(_check(lambda raw: re.fullmatch(pattern, raw) is not None), fix)


def optional(rule: Rule[T]) -> Rule[T | str]:
    """`rule`, or the empty text (the caller derives a default from other settings)."""
    return Rule(lambda raw: rule.parse(raw) if raw else "", rule.fix)


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(raw)


PORT = Rule(_check(lambda raw: raw.isdigit() and 0 < int(raw) < 65536, int), "use a TCP port number 1..65535")
POSITIVE_INT = Rule(_check(lambda raw: int(raw) >= 1, int), "use a positive integer")
SECONDS = Rule(_check(lambda raw: float(raw) > 0, float), "use a number of seconds > 0")
BOOL = Rule(_bool, "use true or false")
URL = Rule(_check(lambda raw: raw.startswith(("http://", "https://")), lambda raw: raw.rstrip("/")),
           "use an http(s):// URL")
NAME = Rule(_check(lambda raw: bool(raw) and not any(c.isspace() for c in raw)), "use a name without spaces")
HOST = Rule(NAME.parse, "use a host name or address")
PATH = Rule(Path, "use a path")  # any text is a path
TEXT = Rule(str, "")  # any text
