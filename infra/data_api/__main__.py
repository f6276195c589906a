"""`python -m infra.data_api`: serve the stand-in on BIND_HOST:DATA_API_PORT."""

from __future__ import annotations

import sys

import uvicorn

from infra.data_api.app import create_app
from shared.errors import ConfigError
from shared.settings.data_api import load_config


def main() -> int:
    try:
        config = load_config()
        app = create_app(config)
    except ConfigError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=config.host, port=config.port, log_level="info", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
