"""Each function of stack.yml as its own process, under the stack's supervisord.

A function runs the template's own `index.py` (the python3-http server a container
runs behind of-watchdog) with FUNCTION_DIR pointing at its handler folder. Each replica
is a supervisord program with its own loopback port (replicas.py: `fn-predict` on
FUNCTIONS_PORT_BASE + its position in stack.yml, `fn-predict-1`... above); `make up`
declares GATEWAY_MAX_REPLICAS of them per function and starts the wanted count.
A replica starts with the function as last deployed (state.py: stack.yml, or the
deployment's environment, secrets and limits), and a secrets directory holding copies
of just the secrets it declares, as an OpenFaaS provider mounts them. `autorestart`
brings a crashed replica back.

No of-watchdog goes in front here (it binds port 8081 on every interface, so it needs a
network namespace of its own; see README, "The OpenFaaS tools"): the tests run each
function's shrinkwrapped build behind the real watchdog instead (tests/test_watchdog_contract.py).
"""

from __future__ import annotations

import math
import os
import re
import resource
import shutil
import socket

from infra.gateway import state
from infra.gateway.replicas import PROGRAM_PREFIX, instance_name, program_name, replica_ports
from infra.gateway.stackfile import Function, StackFile, function_ports, load_stack_file, template_dir
from infra.gateway.types import FunctionResources
from shared.errors import ConfigError, ServiceUnavailable
from shared.settings.gateway import max_replicas
from shared.settings.stack import StackConfig

__all__ = ["PROGRAM_PREFIX", "function_ports"]
_QUANTITY = re.compile(r"(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?")
_UNITS = {None: 1, "m": 0.001, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def read_stack(config: StackConfig) -> StackFile:
    return load_stack_file(config.stack_file, {**os.environ, **config.service_env()})


def runnable(function: Function) -> bool:
    """A function runs once its handler exists (the stack may name functions still being written)."""
    return (function.handler / "handler.py").is_file()


def _max_replicas() -> int:
    return max_replicas()


def function_programs(config: StackConfig) -> list[tuple[str, str]]:
    """(supervisord program, `infra.launch` arguments) for every replica slot of each runnable function."""
    stack = read_stack(config)
    return [(program_name(name, r), f"function {name} {r}")
            for name, fn in stack.functions.items() if runnable(fn) for r in range(_max_replicas())]


def wanted_programs(config: StackConfig) -> list[str]:
    """The programs to run: each runnable function's wanted replicas (none once removed)."""
    view = state.stack_view(read_stack(config), config.state_dir)
    return [program_name(name, r) for name, (fn, wanted) in view.items() if runnable(fn)
            for r in range(min(wanted, _max_replicas()))]


def function_secrets_dir(config: StackConfig, function: Function, instance: str):
    """A directory with copies of just the secrets this function declares, made as the replica starts."""
    directory = config.state_dir / "functions" / instance / "secrets"
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, mode=0o700)
    for name in function.secrets:
        source = config.secrets_dir / name
        if source.is_file():
            shutil.copyfile(source, directory / name)
            (directory / name).chmod(0o600)
    return directory


def quantity(raw: str, what: str) -> float:
    """A Kubernetes quantity (`128Mi`, `1G`, `500m`, `2`) as a number."""
    match = _QUANTITY.fullmatch(raw.strip())
    if not match:
        raise ConfigError(f"limit {what}={raw!r} is invalid: use a quantity such as 256Mi, 1G, 500m or 2")
    return float(match.group(1)) * _UNITS[match.group(2)]


def apply_limits(limits: FunctionResources | None) -> None:
    """Memory as the process's data-segment limit, CPU as the number of cores it may run on."""
    if limits is None:
        return
    if limits.memory:
        memory = int(quantity(limits.memory, "memory"))
        resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    if limits.cpu:
        cores = max(1, math.ceil(quantity(limits.cpu, "cpu")))
        available = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, available[:cores])


def function_command(config: StackConfig, name: str, replica: int = 0) -> tuple[list[str], dict[str, str]]:
    """The command and environment of one replica; applies the deployment's limits to this process."""
    stack = read_stack(config)
    if name not in stack.functions:
        raise ConfigError(f"function {name!r} is not in {stack.path}: add it under `functions:`")
    record = state.read_records(config.state_dir).get(name)
    function = state.effective(stack.functions[name], record)
    index = template_dir(stack, function) / "index.py"
    if not index.is_file():
        raise ConfigError(f"function {name!r} uses template {function.lang!r}, but {index} does not exist")
    apply_limits(state.limits(record))
    instance = instance_name(name, replica)
    port = replica_ports(stack, config.ports["functions"], _max_replicas())[name][replica]
    env = {
        **function.environment,
        "FUNCTION_DIR": str(function.handler),
        "FUNCTION_HOST": config.host,
        "FUNCTION_PORT": str(port),
        "HOSTNAME": instance,
        "SECRETS_DIR": str(function_secrets_dir(config, function, instance)),
        "PYTHONUNBUFFERED": "1",
    }
    return [str(config.python), str(index)], env


def probe_functions(config: StackConfig) -> None:
    """Every wanted replica accepts connections on its port (no request: a GET could run it)."""
    stack = read_stack(config)
    ports = replica_ports(stack, config.ports["functions"], _max_replicas())
    for name, (function, wanted) in state.stack_view(stack, config.state_dir).items():
        if not runnable(function):
            continue
        for port in ports[name][: min(wanted, _max_replicas())]:
            try:
                socket.create_connection((config.host, port), timeout=1).close()
            except OSError:
                raise ServiceUnavailable(f"function {name} is not listening on {config.host}:{port}") from None
