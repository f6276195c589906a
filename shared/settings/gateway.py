"""The gateway's settings (infra/gateway), from the environment, each with a default (see `.env.example`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.settings.core import HOST, PATH, PORT, TEXT, at_least, read
from shared.settings.stack import ROOT

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
    upstream_connections: int

    @property
    def logs_dir(self) -> Path:
        """Where supervisord writes each program's log (infra/supervisor.py)."""
        return self.state_dir / "logs"

    @property
    def supervisor_socket(self) -> Path:
        return self.state_dir / "supervisor.sock"


def max_replicas(env: Mapping[str, str] | None = None) -> int:
    """GATEWAY_MAX_REPLICAS: processes a function may scale to (programs `make up` declares for it)."""
    return read(os.environ if env is None else env, "GATEWAY_MAX_REPLICAS", "4", at_least(int, 1))


def load_gateway_settings(env: Mapping[str, str] | None = None) -> GatewaySettings:
    env = os.environ if env is None else env
    state_dir = read(env, "STATE_DIR", str(ROOT / ".state"), PATH)
    host = read(env, "BIND_HOST", "127.0.0.1", HOST)
    return GatewaySettings(
        host=host,
        port=read(env, "GATEWAY_PORT", "8080", PORT),
        stack_file=read(env, "STACK_FILE", str(ROOT / "stack.yml"), PATH),
        state_dir=state_dir,
        secrets_dir=read(env, "SECRETS_DIR", str(state_dir / "secrets"), PATH),
        functions_port_base=read(env, "FUNCTIONS_PORT_BASE", "8100", PORT),
        async_workers=read(env, "GATEWAY_ASYNC_WORKERS", "4", at_least(int, 1)),
        async_max_attempts=read(env, "GATEWAY_ASYNC_MAX_ATTEMPTS", "3", at_least(int, 1)),
        retry_delay=read(env, "GATEWAY_RETRY_DELAY", "1.0", at_least(float, 0)),
        retry_max_wait=read(env, "GATEWAY_RETRY_MAX_WAIT", "60", at_least(float, 0)),
        callback_timeout=read(env, "GATEWAY_CALLBACK_TIMEOUT", "5", at_least(float, 0.1)),
        max_body_bytes=read(env, "GATEWAY_MAX_BODY_BYTES", str(16 * 1024 * 1024), at_least(int, 1024)),
        header_timeout=read(env, "GATEWAY_HEADER_TIMEOUT", "15", at_least(float, 0.1)),
        body_timeout=read(env, "GATEWAY_BODY_TIMEOUT", "30", at_least(float, 0.1)),
        max_replicas=max_replicas(env),
        scale_from_zero_timeout=read(env, "GATEWAY_SCALE_FROM_ZERO_TIMEOUT", "60", at_least(float, 1)),
        nats_url=f"nats://{host}:{read(env, 'NATS_PORT', '4222', PORT)}",
        queue_max_calls=read(env, "GATEWAY_QUEUE_MAX_CALLS", "10000", at_least(int, 1)),
        queue_max_bytes=read(env, "GATEWAY_QUEUE_MAX_BYTES", str(1024 * 1024 * 1024), at_least(int, 1024 * 1024)),
        ack_wait=read(env, "GATEWAY_ACK_WAIT", "30", at_least(float, 1)),
        callback_hosts=frozenset(name.strip().lower().strip("[]") for name in
                                 read(env, "GATEWAY_CALLBACK_HOSTS", LOOPBACK, TEXT).split(",") if name.strip()),
        callbacks_at_once=read(env, "GATEWAY_CALLBACKS_AT_ONCE", "16", at_least(int, 1)),
        upstream_connections=read(env, "GATEWAY_UPSTREAM_CONNECTIONS", "64", at_least(int, 1)),
    )
