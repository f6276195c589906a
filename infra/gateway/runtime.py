"""Each function of stack.yml as its own process, under the stack's supervisord.

A function runs the template's own `index.py` (the python3-http server a container
runs behind of-watchdog) with FUNCTION_DIR pointing at its handler folder, on its own
loopback port (FUNCTIONS_PORT_BASE + its position in stack.yml), with its
`environment:` from stack.yml and a secrets directory holding only the secrets it
declares, as an OpenFaaS provider mounts them. The supervisord program for function
`predict` is `fn-predict`; `autorestart` brings a crashed function back.

No of-watchdog goes in front here (it binds port 8081 on every interface, so it needs a
network namespace of its own; see README, "The OpenFaaS tools"): the tests run each
function's shrinkwrapped build behind the real watchdog instead (tests/test_watchdog_contract.py).
"""

from __future__ import annotations

import os
import socket

from infra.config import StackConfig
from infra.gateway.stackfile import Function, StackFile, function_ports, load_stack_file, template_dir
from shared.errors import ConfigError, ServiceUnavailable

PROGRAM_PREFIX = "fn-"


def read_stack(config: StackConfig) -> StackFile:
    return load_stack_file(config.stack_file, {**os.environ, **config.service_env()})


def runnable(function: Function) -> bool:
    """A function runs once its handler exists (the stack may name functions still being written)."""
    return (function.handler / "handler.py").is_file()


def function_programs(config: StackConfig) -> list[tuple[str, str]]:
    """(supervisord program, `infra.launch` arguments) for each runnable function."""
    stack = read_stack(config)
    return [(PROGRAM_PREFIX + name, f"function {name}") for name, fn in stack.functions.items() if runnable(fn)]


def function_secrets_dir(config: StackConfig, function: Function):
    """A directory with links to just the secrets this function declares."""
    directory = config.state_dir / "functions" / function.name / "secrets"
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    for link in directory.iterdir():
        link.unlink()
    for name in function.secrets:
        source = config.secrets_dir / name
        if source.is_file():
            (directory / name).symlink_to(source)
    return directory


def function_command(config: StackConfig, name: str) -> tuple[list[str], dict[str, str]]:
    stack = read_stack(config)
    function = stack.functions.get(name)
    if function is None:
        raise ConfigError(f"function {name!r} is not in {stack.path}: add it under `functions:`")
    index = template_dir(stack, function) / "index.py"
    if not index.is_file():
        raise ConfigError(f"function {name!r} uses template {function.lang!r}, but {index} does not exist")
    env = {
        **function.environment,
        "FUNCTION_DIR": str(function.handler),
        "FUNCTION_HOST": config.host,
        "FUNCTION_PORT": str(function_ports(stack, config.ports["functions"])[name]),
        "HOSTNAME": name,
        "SECRETS_DIR": str(function_secrets_dir(config, function)),
        "PYTHONUNBUFFERED": "1",
    }
    return [str(config.python), str(index)], env


def probe_functions(config: StackConfig) -> None:
    """Every runnable function accepts connections on its port (no request: a GET could run it)."""
    stack = read_stack(config)
    ports = function_ports(stack, config.ports["functions"])
    for name, function in stack.functions.items():
        if not runnable(function):
            continue
        try:
            socket.create_connection((config.host, ports[name]), timeout=1).close()
        except OSError:
            raise ServiceUnavailable(f"function {name} is not listening on {config.host}:{ports[name]}") from None
