"""The NiceGUI app: `build_app(backend)` makes the root page, `python -m ui.app` serves it.

Five pages under one header (NiceGUI sub pages): Pipeline, Predict, Experiments,
Models, Operations. Nothing happens at import time; tests build the app with a fake backend.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from nicegui import ui

from shared.errors import ConfigError
from shared.settings import load_settings
from shared.settings.ui import load_ui_settings
from ui.backend import Backend, BackendApi
from ui.experiments_page import experiments_page
from ui.models_page import models_page
from ui.operations_page import operations_page
from ui.pipeline_page import pipeline_page
from ui.predict_page import predict_page

TITLE = "Covertype pipeline"
PAGES = {"/": "Pipeline", "/predict": "Predict", "/experiments": "Experiments", "/models": "Models",
         "/operations": "Operations"}


def build_app(backend: BackendApi) -> Callable[[], None]:
    """The root page function to pass to `ui.run`: header, navigation and the pages."""
    routes = {
        "/": lambda: pipeline_page(backend),
        "/predict": lambda: predict_page(backend),
        "/experiments": lambda: experiments_page(backend),
        "/models": lambda: models_page(backend),
        "/operations": lambda: operations_page(backend),
    }

    def root() -> None:
        with ui.header().classes("items-center gap-6 bg-green-900"):
            ui.label(TITLE).classes("text-lg font-medium")
            for path, title in PAGES.items():
                ui.link(title, path).classes("text-white no-underline").mark(f"nav-{title.lower()}")
        with ui.column().classes("w-full max-w-6xl mx-auto p-4"):
            ui.sub_pages(routes).classes("w-full")

    return root


def main() -> None:
    try:
        settings, where = load_settings(), load_ui_settings()
    except ConfigError as exc:
        sys.exit(f"error: {exc.message}")
    backend = Backend(settings, where.gateway_url, where.prometheus_url)
    ui.run(build_app(backend), host=where.host, port=where.port, title=TITLE,
           reload=False, show=False, show_welcome_message=False)


if __name__ in {"__main__", "__mp_main__"}:
    main()
