"""Replicas: each one a supervisord program with its own loopback port.

    replica 0 of `predict`  program fn-predict     port FUNCTIONS_PORT_BASE + i
    replica r of `predict`  program fn-predict-r   port FUNCTIONS_PORT_BASE + i + r * (functions in stack.yml)

where i is the function's position in stack.yml. `make up` declares GATEWAY_MAX_REPLICAS
programs per function and starts the wanted count; the gateway starts and stops them
through supervisord's XML-RPC interface (its unix socket in the state directory), and
probes each running replica's port to know which ones are ready for calls.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import xmlrpc.client
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport

from infra.gateway.stackfile import StackFile

PROGRAM_PREFIX = "fn-"
PROBE_INTERVAL = 0.5


def program_name(function: str, replica: int) -> str:
    return f"{PROGRAM_PREFIX}{function}" if replica == 0 else f"{PROGRAM_PREFIX}{function}-{replica}"


def instance_name(function: str, replica: int) -> str:
    """The replica's HOSTNAME and its `instance` in logs."""
    return function if replica == 0 else f"{function}-{replica}"


def replica_ports(stack: StackFile, base_port: int, max_replicas: int) -> dict[str, list[int]]:
    count = len(stack.functions)
    return {name: [base_port + index + r * count for r in range(max_replicas)]
            for index, name in enumerate(stack.functions)}


class ProcessControlUnavailable(Exception):
    def __init__(self, socket: Path, reason: str):
        self.message = f"process control is unavailable: supervisord at {socket} {reason} (run the stack with `make up`)"
        super().__init__(self.message)


class Supervisor:
    """The stack's supervisord, driven over XML-RPC (blocking calls, run in a thread)."""

    def __init__(self, socket: Path):
        self.socket = socket

    def _proxy(self):
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    async def _call(self, method: str, *args):
        def run():
            try:
                return getattr(self._proxy(), method)(*args)
            except xmlrpc.client.Fault as fault:
                if fault.faultString.startswith(("ALREADY_STARTED", "NOT_RUNNING")):
                    return None
                raise ProcessControlUnavailable(self.socket, f"refused {method} ({fault.faultString})") from None
            except OSError as exc:
                raise ProcessControlUnavailable(self.socket, f"is not reachable ({exc.strerror or exc})") from None

        return await asyncio.to_thread(run)

    async def start(self, program: str) -> None:
        await self._call("startProcess", program, False)

    async def stop(self, program: str) -> None:
        await self._call("stopProcess", program, True)


async def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=timeout)
    except (TimeoutError, OSError):
        return False
    writer.close()
    return True


class Replicas:
    """Wanted and ready replicas of every function, and the port each call goes to."""

    def __init__(self, host: str, ports: dict[str, list[int]], wanted: dict[str, int], supervisor: Supervisor):
        self.host = host
        self.ports = ports
        self.wanted = dict(wanted)
        self.supervisor = supervisor
        self.ready: dict[str, set[int]] = {name: set() for name in ports}
        self.starting: set[str] = set()  # (re)started by the gateway, not all replicas ready yet
        self._turn = {name: itertools.count() for name in ports}
        self._locks = {name: asyncio.Lock() for name in ports}
        self._prober: asyncio.Task | None = None

    @property
    def max_replicas(self) -> int:
        return len(next(iter(self.ports.values())))

    async def start(self) -> None:
        await self.probe_all()
        self._prober = asyncio.create_task(self._probe_forever())

    async def stop(self) -> None:
        if self._prober is not None:
            self._prober.cancel()

    async def probe(self, name: str) -> None:
        wanted = self.ports[name][: self.wanted[name]]
        results = await asyncio.gather(*(port_open(self.host, port) for port in wanted))
        self.ready[name] = {r for r, ok in enumerate(results) if ok}
        if len(self.ready[name]) == len(wanted):
            self.starting.discard(name)

    async def probe_all(self) -> None:
        await asyncio.gather(*(self.probe(name) for name in self.ports))

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(PROBE_INTERVAL)
            await self.probe_all()

    def order(self, name: str) -> list[int]:
        """Ports to try for one call: the ready replicas, starting at the next in turn, then the others."""
        ready = sorted(self.ready[name])
        others = [r for r in range(self.wanted[name]) if r not in self.ready[name]]
        if ready:
            shift = next(self._turn[name]) % len(ready)
            ready = ready[shift:] + ready[:shift]
        return [self.ports[name][r] for r in ready + others]

    def mark_down(self, name: str, port: int) -> None:
        self.ready[name].discard(self.ports[name].index(port))

    async def scale(self, name: str, replicas: int) -> None:
        """Start or stop programs until `replicas` run; replicas above the count leave the rotation first."""
        async with self._locks[name]:
            old = self.wanted[name]
            self.wanted[name] = replicas
            self.ready[name] = {r for r in self.ready[name] if r < replicas}
            if replicas > old:
                self.starting.add(name)
            for r in range(replicas, self.max_replicas):
                await self.supervisor.stop(program_name(name, r))
            for r in range(replicas):
                await self.supervisor.start(program_name(name, r))

    async def restart(self, name: str, replicas: int) -> None:
        """Stop every replica, then start `replicas` of them (a deploy's new settings take effect)."""
        async with self._locks[name]:
            self.wanted[name] = replicas
            self.ready[name] = set()
            for r in range(self.max_replicas):
                await self.supervisor.stop(program_name(name, r))
            self.ready[name] = set()  # a probe during the stops saw the old processes
            self.starting.add(name)
            for r in range(replicas):
                await self.supervisor.start(program_name(name, r))

    async def wait_ready(self, name: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.probe(name)
            if self.ready[name]:
                return True
            await asyncio.sleep(0.1)
        return False

