"""The gateway's settings, from the environment, each with a default (see `.env.example`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.settings import env_number

ROOT = Path(__file__).resolve().parent.parent.parent
LOOPBACK = "127.0.0.1,localhost,::1"


@dataclass(frozen=True)
class GatewaySettings:
    host: str
    port: int
    stack_file: Path
    state_dir: Path
    secrets_dir: Path
    functions_port_base: int
    async_workers: int
    async_max_attempts: int
    retry_delay: float
    retry_max_wait: float
    callback_timeout: float
    max_body_bytes: int
    header_timeout: float
    body_timeout: float
    max_replicas: int
    scale_from_zero_timeout: float
    nats_url: str
    queue_max_calls: int
    queue_max_bytes: int
    ack_wait: float
    callback_hosts: frozenset[str]
    callbacks_at_once: int

    @property
    def logs_dir(self) -> Path:
        """Where supervisord writes each program's log (infra/supervisor.py)."""
        return self.state_dir / "logs"

    @property
    def supervisor_socket(self) -> Path:
        return self.state_dir / "supervisor.sock"


def max_replicas(env: Mapping[str, str]) -> int:
    """GATEWAY_MAX_REPLICAS: processes a function may scale to (programs `make up` declares for it)."""
    return env_number(env, "GATEWAY_MAX_REPLICAS", "4", int, 1)


def load_gateway_settings(env: Mapping[str, str] | None = None) -> GatewaySettings:
    env = os.environ if env is None else env
    state_dir = Path(env.get("STATE_DIR", ROOT / ".state"))
    return GatewaySettings(
        host=env.get("BIND_HOST", "127.0.0.1"),
        port=env_number(env, "GATEWAY_PORT", "8080", int, 1),
        stack_file=Path(env.get("STACK_FILE", ROOT / "stack.yml")),
        state_dir=state_dir,
        secrets_dir=Path(env.get("SECRETS_DIR", state_dir / "secrets")),
        functions_port_base=env_number(env, "FUNCTIONS_PORT_BASE", "8100", int, 1),
        async_workers=env_number(env, "GATEWAY_ASYNC_WORKERS", "4", int, 1),
        async_max_attempts=env_number(env, "GATEWAY_ASYNC_MAX_ATTEMPTS", "3", int, 1),
        retry_delay=env_number(env, "GATEWAY_RETRY_DELAY", "1.0", float, 0),
        retry_max_wait=env_number(env, "GATEWAY_RETRY_MAX_WAIT", "60", float, 0),
        callback_timeout=env_number(env, "GATEWAY_CALLBACK_TIMEOUT", "5", float, 0.1),
        max_body_bytes=env_number(env, "GATEWAY_MAX_BODY_BYTES", str(16 * 1024 * 1024), int, 1024),
        header_timeout=env_number(env, "GATEWAY_HEADER_TIMEOUT", "15", float, 0.1),
        body_timeout=env_number(env, "GATEWAY_BODY_TIMEOUT", "30", float, 0.1),
        max_replicas=max_replicas(env),
        scale_from_zero_timeout=env_number(env, "GATEWAY_SCALE_FROM_ZERO_TIMEOUT", "60", float, 1),
        nats_url=f"nats://{env.get('BIND_HOST', '127.0.0.1')}:{env_number(env, 'NATS_PORT', '4222', int, 1)}",
        queue_max_calls=env_number(env, "GATEWAY_QUEUE_MAX_CALLS", "10000", int, 1),
        queue_max_bytes=env_number(env, "GATEWAY_QUEUE_MAX_BYTES", str(1024 * 1024 * 1024), int, 1024 * 1024),
        ack_wait=env_number(env, "GATEWAY_ACK_WAIT", "30", float, 1),
        callback_hosts=frozenset(host.strip().lower().strip("[]") for host in
                                 env.get("GATEWAY_CALLBACK_HOSTS", LOOPBACK).split(",") if host.strip()),
        callbacks_at_once=env_number(env, "GATEWAY_CALLBACKS_AT_ONCE", "16", int, 1),
    )
