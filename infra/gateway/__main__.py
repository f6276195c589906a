"""Run the gateway in the foreground: `python -m infra.gateway` (supervisord does this)."""

from __future__ import annotations

import logging
import os
import sys

from infra.gateway import fastlane
from infra.gateway.app import create_app
from infra.gateway.stackfile import load_stack_file
from shared.errors import PipelineError
from shared.settings.gateway import load_gateway_settings


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = load_gateway_settings()
        stack = load_stack_file(settings.stack_file, os.environ)
        app = create_app(settings, stack)
    except PipelineError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    fastlane.run(app, settings.host, settings.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
