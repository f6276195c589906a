"""stack.yml as faas-cli reads it: `${VAR}` / `${VAR:-default}` substituted, then parsed.

The local runtime and the gateway read the same file faas-cli deploys, so both see the
same functions, environment, secrets, labels and annotations.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from shared.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
NAMESPACE = "openfaas-fn"
DEFAULT_TIMEOUT = 60.0
# ${NAME}, ${NAME:-default} and ${NAME-default}; the default may hold spaces and `*`
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Function:
    name: str
    lang: str
    handler: Path
    image: str
    environment: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    fprocess: str = ""

    @functools.cached_property  # read on every call
    def timeout(self) -> float:
        """Seconds a call may take: the function's exec_timeout, as of-watchdog enforces it."""
        raw = self.environment.get("exec_timeout") or self.environment.get("write_timeout")
        return parse_duration(raw) if raw else DEFAULT_TIMEOUT


@dataclass(frozen=True)
class StackFile:
    path: Path
    gateway: str
    functions: dict[str, Function]
    copy: tuple[str, ...] = ()


def substitute(text: str, env: Mapping[str, str]) -> str:
    """Replace `${VAR}`, `${VAR:-default}` (default when unset or empty), `${VAR-default}` (when unset)."""

    def replace(match: re.Match) -> str:
        name, operator, default = match.group(1), match.group(2), match.group(3)
        value = env.get(name)
        if operator == ":-" and not value:
            return default
        if operator == "-" and value is None:
            return default
        return value or ""

    return _VARIABLE.sub(replace, text)


def parse_duration(raw: str) -> float:
    """A Go duration as of-watchdog reads it (`10m`, `1m30s`, `500ms`; a bare number is seconds)."""
    text = raw.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ConfigError(f"timeout {raw!r} is invalid: use a duration such as 30s, 10m or 1m30s")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def _text(value) -> str:
    """A YAML scalar as faas-cli sends it: booleans `true`/`false` (as Go writes them), not Python's `True`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _strings(mapping, where: str) -> dict[str, str]:
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where} must be a mapping of names to values")
    return {str(key): _text(value) for key, value in mapping.items()}


def _function(name: str, spec: dict, base: Path) -> Function:
    if not isinstance(spec, dict) or "handler" not in spec:
        raise ConfigError(f"function {name!r} in stack.yml needs a `handler:` folder")
    return Function(
        name=name,
        lang=str(spec.get("lang", "")),
        handler=(base / str(spec["handler"])).resolve(),
        image=str(spec.get("image", "")),
        environment=_strings(spec.get("environment"), f"functions.{name}.environment"),
        secrets=tuple(str(s) for s in spec.get("secrets") or ()),
        labels=_strings(spec.get("labels"), f"functions.{name}.labels"),
        annotations=_strings(spec.get("annotations"), f"functions.{name}.annotations"),
        fprocess=str(spec.get("fprocess", "")),
    )


def load_stack_file(path: Path | str, env: Mapping[str, str]) -> StackFile:
    """Read and validate stack.yml; a problem raises ConfigError naming the file and the fix."""
    path = Path(path).resolve()
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"stack file {path} cannot be read ({exc.strerror}): set STACK_FILE") from None
    try:
        document = yaml.safe_load(substitute(text, env)) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"stack file {path} is not valid YAML: {exc}") from None
    functions = document.get("functions")
    if not isinstance(functions, dict) or not functions:
        raise ConfigError(f"stack file {path} defines no functions: add a `functions:` section")
    return StackFile(
        path=path,
        gateway=str((document.get("provider") or {}).get("gateway", "")),
        functions={name: _function(name, spec, path.parent) for name, spec in functions.items()},
        copy=tuple((document.get("configuration") or {}).get("copy") or ()),
    )


def template_dir(stack: StackFile, function: Function) -> Path:
    """`template/<lang>` beside the stack file (as faas-cli looks), else the project's own."""
    beside = stack.path.parent / "template" / function.lang
    return beside if beside.is_dir() else PROJECT_ROOT / "template" / function.lang


def function_ports(stack: StackFile, base_port: int) -> dict[str, int]:
    """Each function's loopback port: FUNCTIONS_PORT_BASE + its position in stack.yml."""
    return {name: base_port + index for index, name in enumerate(stack.functions)}
