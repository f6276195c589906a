"""What deploy, remove and scale changed, kept in the state directory so a restart keeps it.

    $STATE_DIR/gateway/deployments.json
        {"<function>": {"deployment": FunctionDeployment | null, "removed": bool, "replicas": int | null}}

stack.yml stays the source of each function's code (its handler folder); a deployment
replaces its image, environment, secrets, labels, annotations and limits, as a deploy
does in OpenFaaS. The gateway writes this file; the function launcher reads it, so a
restarted replica starts with what was last deployed.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from infra.gateway.stackfile import Function, StackFile
from infra.gateway.types import FunctionDeployment, FunctionResources

SCALE_MIN = "com.openfaas.scale.min"


@dataclasses.dataclass
class Record:
    deployment: dict | None = None
    removed: bool = False
    replicas: int | None = None


def state_file(state_dir: Path) -> Path:
    return state_dir / "gateway" / "deployments.json"


def read_records(state_dir: Path) -> dict[str, Record]:
    try:
        raw = json.loads(state_file(state_dir).read_text())
    except FileNotFoundError:
        return {}
    return {name: Record(**value) for name, value in raw.items()}


def write_records(state_dir: Path, records: dict[str, Record]) -> None:
    """Whole or not at all: a crash mid-write leaves the previous file."""
    path = state_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({name: dataclasses.asdict(r) for name, r in records.items()}, indent=1))
    os.replace(temporary, path)


def effective(function: Function, record: Record | None) -> Function:
    """The function as last deployed: stack.yml's code with the deployment's settings."""
    if record is None or record.deployment is None:
        return function
    d = record.deployment
    return dataclasses.replace(
        function, image=d["image"] or function.image, environment=dict(d["envVars"]),
        secrets=tuple(d["secrets"]), labels=dict(d["labels"]), annotations=dict(d["annotations"]),
        fprocess=d["envProcess"] or function.fprocess,
    )


def limits(record: Record | None) -> FunctionResources | None:
    if record is None or record.deployment is None or not record.deployment.get("limits"):
        return None
    return FunctionResources(**record.deployment["limits"])


def starting_replicas(function: Function) -> int:
    """`com.openfaas.scale.min` (default 1), as OpenFaaS starts a function."""
    raw = function.annotations.get(SCALE_MIN, "1")
    return int(raw) if raw.isdigit() else 1


def wanted_replicas(function: Function, record: Record | None) -> int:
    if record is not None and record.removed:
        return 0
    if record is not None and record.replicas is not None:
        return record.replicas
    return starting_replicas(effective(function, record))


def deployed(records: dict[str, Record], deployment: FunctionDeployment) -> Record:
    """The record after a deploy: the new settings, back if removed, replica count kept."""
    old = records.get(deployment.service) or Record()
    return Record(deployment=deployment.to_json(), removed=False, replicas=None if old.removed else old.replicas)


def stack_view(stack: StackFile, state_dir: Path) -> dict[str, tuple[Function, int]]:
    """Every function of stack.yml as deployed, with its wanted replica count (0 when removed)."""
    records = read_records(state_dir)
    return {name: (effective(fn, records.get(name)), wanted_replicas(fn, records.get(name)))
            for name, fn in stack.functions.items()}
