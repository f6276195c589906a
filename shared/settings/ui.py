"""The UI's settings (ui/app.py): where it listens, and where it finds the gateway and Prometheus."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.settings.core import HOST, PORT, URL, optional, read


@dataclass(frozen=True)
class UiSettings:
    host: str
    port: int
    gateway_url: str  # where it sends predictions and reads functions and logs
    prometheus_url: str  # where the Operations page queries the gateway's metrics


def load_ui_settings(env: Mapping[str, str] | None = None) -> UiSettings:
    """GATEWAY_URL and PROMETHEUS_URL default to loopback on GATEWAY_PORT and PROMETHEUS_PORT."""
    env = os.environ if env is None else env
    gateway_port = read(env, "GATEWAY_PORT", "8080", PORT)
    prometheus_port = read(env, "PROMETHEUS_PORT", "9090", PORT)
    return UiSettings(
        host=read(env, "BIND_HOST", "127.0.0.1", HOST),
        port=read(env, "UI_PORT", "8503", PORT),
        gateway_url=read(env, "GATEWAY_URL", "", optional(URL)) or f"http://127.0.0.1:{gateway_port}",
        prometheus_url=read(env, "PROMETHEUS_URL", "", optional(URL)) or f"http://127.0.0.1:{prometheus_port}",
    )
