"""The champion of one process, answered from memory and kept fresh by a polling thread.

`ChampionHolder.current()` answers from memory. A daemon thread polls the alias every
`MODEL_POLL_SECONDS`; a new version is loaded beside the old one and swapped in with one
reference assignment, so requests in flight finish on the model they started with.
A refused version is never served: the previous champion keeps serving. When MLflow or
MinIO fails, the cached model keeps serving and the status says degraded.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.champion import Champion, load_champion
from shared.errors import ServiceUnavailable, UpstreamError
from shared.registry import NoChampion, Registry
from shared.settings import Settings

log = logging.getLogger(__name__)
RETRY_AFTER_FAILURE = 1.0  # seconds a request waits before trying the registry again when nothing is cached


@dataclass
class _State:
    champion: Champion | None = None
    error: str | None = None
    checked_at: float = 0.0
    failed_at: float = field(default=-1e9)


class ChampionHolder:
    """The cached champion of one process, refreshed by a background poller."""

    def __init__(self, settings: Settings, registry: Registry | None = None):
        self.settings = settings
        self.registry = registry or Registry(settings)
        self._state = _State()
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    def current(self) -> Champion:
        champion = self._state.champion
        if champion is not None:
            return champion
        return self._first_load()

    def _first_load(self) -> Champion:
        with self._load_lock:
            if self._state.champion is not None:
                return self._state.champion
            if time.monotonic() - self._state.failed_at < RETRY_AFTER_FAILURE and self._state.error:
                raise self._unavailable()
            self.refresh()
            self._start_poller()
            if self._state.champion is None:
                raise self._unavailable()
            return self._state.champion

    def _unavailable(self) -> ServiceUnavailable:
        message = self._state.error or "no champion loaded"
        return (NoChampion if message.startswith("no champion") else ServiceUnavailable)(message)

    def refresh(self) -> None:
        """Look at the alias once; load and swap in a new version. Never raises for service trouble."""
        state = self._state
        try:
            info = self.registry.resolve(self.settings.model_name, self.settings.model_alias)
            if state.champion is None or info.version != state.champion.info.version:
                state.champion = load_champion(self.registry, info)
            else:
                self.registry.check_artifacts(self.registry.artifact_uri(info))
            state.error = None
        except (ServiceUnavailable, UpstreamError) as exc:
            state.error = exc.message
            state.failed_at = time.monotonic()
        state.checked_at = time.time()

    def status(self) -> dict:
        state = self._state
        if state.champion is None:
            return {"status": "no_champion" if (state.error or "").startswith("no champion") else "unavailable",
                    "error": state.error}
        body = {
            **state.champion.describe(),
            "alias": self.settings.model_alias,
            "metrics": state.champion.metrics(),
            "loaded_at": state.champion.loaded_at,
            "checked_at": datetime.fromtimestamp(state.checked_at, UTC).isoformat(timespec="seconds"),
            "poll_seconds": self.settings.model_poll_seconds,
            "status": "degraded" if state.error else "ok",
        }
        if state.error:
            body["error"] = state.error
        return body

    def _start_poller(self) -> None:
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll, name="champion-poller", daemon=True)
            self._poller.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.settings.model_poll_seconds):
            try:
                self.refresh()
            except Exception as exc:  # a bug must not end the poller silently: log it, report degraded, go on
                log.exception("champion poll failed")
                self._state.error = f"champion poll failed ({type(exc).__name__}); see the function's log"

    def stop(self) -> None:
        self._stop.set()
