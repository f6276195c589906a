"""Small building blocks the pages share: the error banner, loading data, formatting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from nicegui import run, ui

from shared.errors import PipelineError

T = TypeVar("T")


def banner(message: str) -> ui.element:
    """A red strip naming what is down; the rest of the page keeps working."""
    with ui.row().classes("w-full items-center gap-2 bg-red-100 text-red-900 rounded p-2").mark("banner") as row:
        ui.icon("error_outline")
        ui.label(message)
    return row


async def load(fetch: Callable[[], T]) -> tuple[T | None, str | None]:
    """Run a blocking backend call off the event loop: (value, None) or (None, problem)."""
    try:
        return await run.io_bound(fetch), None
    except PipelineError as exc:
        return None, describe(exc)


async def live(body: ui.element, collect: Callable[[], Awaitable[T]], render: Callable[[T], None],
               refresh_seconds: float) -> None:
    """Render `collect()`'s snapshot into `body` now and every `refresh_seconds`; a refresh that
    finds the previous one still waiting on the backend is skipped, not queued."""
    busy = False

    async def refresh() -> None:
        nonlocal busy
        if busy:
            return
        busy = True
        try:
            snapshot = await collect()
            if body.is_deleted:  # the visitor left while the backend answered
                return
            body.clear()
            with body:
                render(snapshot)
        finally:
            busy = False

    await refresh()
    ui.timer(refresh_seconds, refresh)


def describe(exc: PipelineError) -> str:
    """The error's message, plus the first offending fields when it lists them."""
    if not exc.details:
        return exc.message
    shown = "; ".join(
        " ".join(str(part) for part in (f"row {d['row']}" if "row" in d else "", d.get("field", "?")) if part)
        + f": {d.get('error', '')}"
        for d in exc.details[:5]
    )
    return f"{exc.message} ({shown}{' …' if len(exc.details) > 5 else ''})"


def fmt_time(value: Any) -> str:
    """Milliseconds since the epoch, a datetime or an ISO string, shown in UTC."""
    if value in (None, ""):
        return "-"
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def section(title: str) -> ui.card:
    card = ui.card().classes("w-full")
    with card:
        ui.label(title).classes("text-lg font-medium")
    return card
