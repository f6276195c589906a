"""The batch clock: per group, the batch last served and when it advanced.

Kept in one JSON file, rewritten atomically (temp file + rename) on every change, so a
restart of the stand-in resumes where it was.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

MAX_BATCHES = 10  # the real API's limit; not a pipeline setting


class BatchClock:
    def __init__(self, path: Path, period: float, max_batches: int):
        self.path = path
        self.period = period
        self.max_batches = max_batches
        self._lock = threading.Lock()

    def _read(self) -> dict[str, dict]:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}

    def _write(self, state: dict[str, dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state-", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def next_batch(self, group: int, now: float) -> int | None:
        """The batch this call serves, advancing lazily; None once the last batch was served."""
        with self._lock:
            state = self._read()
            entry = state.get(str(group), {"batch": 0, "advanced_at": 0.0})
            if entry["batch"] >= self.max_batches:
                return None
            if entry["batch"] == 0 or now - entry["advanced_at"] > self.period:
                entry = {"batch": entry["batch"] + 1, "advanced_at": now}
                state[str(group)] = entry
                self._write(state)
            return entry["batch"]

    def restart(self, group: int) -> None:
        with self._lock:
            state = self._read()
            if state.pop(str(group), None) is not None:
                self._write(state)

    def batch(self, group: int) -> int:
        with self._lock:
            return self._read().get(str(group), {}).get("batch", 0)
