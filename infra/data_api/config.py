"""The stand-in's settings, read from the environment and validated in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from infra.config import load_stack_config
from shared.errors import ConfigError
from shared.settings import env_number

MAX_BATCHES = 10  # the real API's limit; not a pipeline setting
GROUPS = range(1, 11)


@dataclass(frozen=True)
class DataApiConfig:
    host: str
    port: int
    state_dir: Path
    batch_period: float
    csv_path: Path | None
    seed: int
    synthetic_rows: int

    @property
    def state_file(self) -> Path:
        return self.state_dir / "data-api" / "state.json"


def load_config(env: Mapping[str, str] | None = None) -> DataApiConfig:
    env = os.environ if env is None else env
    stack = load_stack_config(env)
    csv_raw = env.get("COVERTYPE_CSV", "").strip()
    csv_path = Path(csv_raw).expanduser() if csv_raw else None
    if csv_path is not None and not csv_path.is_file():
        raise ConfigError(f"COVERTYPE_CSV={csv_raw!r} is not a file: give the course's CSV or unset it")
    return DataApiConfig(
        host=stack.host,
        port=stack.ports["data-api"],
        state_dir=stack.state_dir,
        batch_period=env_number(env, "DATA_API_BATCH_PERIOD", "300", float, 0),
        csv_path=csv_path,
        seed=env_number(env, "DATA_API_SEED", "6", int, 0),
        synthetic_rows=env_number(env, "DATA_API_ROWS", "581012", int, 100),
    )
