"""The local provider behind the gateway: what faas-provider's handlers do in a container platform.

It keeps each function as deployed (stack.yml's code, the last deployment's settings,
state.py), runs its replicas (replicas.py), and the stack's secrets directory: a
secret is a file named after it, mode 600; a function gets copies of the secrets it
declares when a replica starts (runtime.py), so it sees a changed one after its next
deploy, as in OpenFaaS.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

from infra.gateway import state
from infra.gateway.logs import ReplicaLog
from infra.gateway.replicas import Replicas, Supervisor, instance_name, program_name, replica_ports
from infra.gateway.stackfile import NAMESPACE, Function, StackFile
from infra.gateway.types import BadRequest, FunctionDeployment, Secret
from shared.settings.gateway import GatewaySettings


class Provider:
    def __init__(self, settings: GatewaySettings, stack: StackFile):
        self.settings = settings
        self.stack = stack
        self.records = state.read_records(settings.state_dir)
        self.functions = {name: state.effective(fn, self.records.get(name)) for name, fn in stack.functions.items()}
        wanted = {name: min(state.wanted_replicas(fn, self.records.get(name)), settings.max_replicas)
                  for name, fn in stack.functions.items()}
        self.replicas = Replicas(settings.host, replica_ports(stack, settings.functions_port_base, settings.max_replicas),
                                 wanted, Supervisor(settings.supervisor_socket))
        self.created_at = {name: datetime.now(UTC) for name in stack.functions}
        self._changes = asyncio.Lock()

    # --- functions -----------------------------------------------------------------------
    def resolve(self, raw_name: str) -> Function | None:
        """The deployed function `name` or `name.openfaas-fn`; None when unknown or removed."""
        name, _, namespace = raw_name.partition(".")
        if namespace and namespace != NAMESPACE:
            return None
        record = self.records.get(name)
        if record is not None and record.removed:
            return None
        return self.functions.get(name)

    def deployed(self) -> list[Function]:
        return [fn for name, fn in self.functions.items() if self.resolve(name) is not None]

    def known(self, raw_name: str) -> Function:
        function = self.resolve(raw_name)
        if function is None:
            raise BadRequest(f"error finding function {raw_name}: not found in {NAMESPACE}", 404)
        return function

    def _save(self, name: str, record: state.Record) -> None:
        records = {**self.records, name: record}
        state.write_records(self.settings.state_dir, records)
        self.records = records
        self.functions[name] = state.effective(self.stack.functions[name], record)

    async def deploy(self, deployment: FunctionDeployment, update: bool) -> None:
        """POST (create) or PUT (update): record the settings, then restart the replicas with them."""
        name = deployment.service
        if name not in self.stack.functions:
            raise BadRequest(f"function {name} is not in {self.stack.path.name}: the local runtime runs the code "
                             f"of stack.yml's handler folders, so add it there first")
        if not (self.stack.functions[name].handler / "handler.py").is_file():
            raise BadRequest(f"function {name} has no handler.py in {self.stack.functions[name].handler}")
        if update and self.resolve(name) is None:
            raise BadRequest(f"error finding function {name}: not found in {NAMESPACE}, deploy it with POST", 404)
        async with self._changes:
            record = state.deployed(self.records, deployment)
            replicas = min(state.wanted_replicas(self.stack.functions[name], record), self.settings.max_replicas)
            self._save(name, record)
            self.created_at[name] = datetime.now(UTC)
            await self.replicas.restart(name, replicas)

    async def remove(self, name: str) -> None:
        self.known(name)
        async with self._changes:
            record = self.records.get(name) or state.Record()
            self._save(name, state.Record(deployment=record.deployment, removed=True, replicas=None))
            await self.replicas.scale(name, 0)

    async def scale(self, name: str, replicas: int) -> None:
        function = self.known(name)
        if not (function.handler / "handler.py").is_file():
            raise BadRequest(f"function {function.name} has no handler.py in {function.handler}: nothing to run")
        if replicas > self.settings.max_replicas:
            raise BadRequest(f"replicas {replicas} is above this runtime's maximum of {self.settings.max_replicas} "
                             f"per function (GATEWAY_MAX_REPLICAS)")
        async with self._changes:
            record = self.records.get(function.name) or state.Record()
            self._save(function.name, state.Record(record.deployment, False, replicas))
            await self.replicas.scale(function.name, replicas)

    async def ready_for_call(self, function: Function) -> None:
        """Scale from zero: the first call to a function at 0 replicas starts one and waits for it.
        A call while the gateway (re)starts a function's replicas waits for the first one, too."""
        name = function.name
        if self.replicas.wanted[name] == 0:
            await self.scale(name, 1)
        if name in self.replicas.starting and not self.replicas.ready[name]:
            if not await self.replicas.wait_ready(name, self.settings.scale_from_zero_timeout):
                self.replicas.starting.discard(name)  # it does not come up: later calls fail fast

    # --- logs ------------------------------------------------------------------------------
    def replica_logs(self, name: str, instance: str = "") -> list[ReplicaLog]:
        logs = [ReplicaLog(self.settings.logs_dir / f"{program_name(name, r)}.log", instance_name(name, r))
                for r in range(self.settings.max_replicas)]
        return [log for log in logs if log.path.exists() and instance in ("", log.instance)]

    # --- secrets ---------------------------------------------------------------------------
    def secret_names(self) -> list[str]:
        directory = self.settings.secrets_dir
        if not directory.is_dir():
            return []
        return sorted(p.name for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))

    def write_secret(self, secret: Secret, create: bool) -> None:
        path = self.settings.secrets_dir / secret.name
        if create and path.exists():
            raise BadRequest(f"secret {secret.name} already exists: update it with PUT", 409)
        if not create and not path.exists():
            raise BadRequest(f"secret {secret.name} not found in {NAMESPACE}", 404)
        self.settings.secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{secret.name}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secret.value)
        os.replace(temporary, path)

    def delete_secret(self, name: str) -> None:
        try:
            (self.settings.secrets_dir / name).unlink()
        except FileNotFoundError:
            raise BadRequest(f"secret {name} not found in {NAMESPACE}", 404) from None
