"""The Data API stand-in's settings (infra/data_api), read from the environment and validated in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.settings.core import Rule, at_least, read
from shared.settings.stack import load_stack_config


def _csv(raw: str) -> Path | None:
    path = Path(raw.strip()).expanduser() if raw.strip() else None
    if path is not None and not path.is_file():
        raise ValueError(raw)
    return path


CSV = Rule(_csv, "give a file in the course's CSV format, or unset it for synthetic data")


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
    return DataApiConfig(
        host=stack.host,
        port=stack.ports["data-api"],
        state_dir=stack.state_dir,
        batch_period=read(env, "DATA_API_BATCH_PERIOD", "300", at_least(float, 0)),
        csv_path=read(env, "COVERTYPE_CSV", "", CSV),
        seed=read(env, "DATA_API_SEED", "6", at_least(int, 0)),
        synthetic_rows=read(env, "DATA_API_ROWS", "581012", at_least(int, 100)),
    )
