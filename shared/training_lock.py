"""train-model's lock and marker in MinIO, so that a set of batches is trained once.

Two objects beside the batches:

    training/group=<G>/lock.json     created only if absent (S3 `If-None-Match: *`); holds
                                     the training id and a short lease that the holder
                                     renews while it trains; a lease past its end (its
                                     holder was killed) is taken over atomically
                                     (`If-Match: <etag>`)
    training/group=<G>/trained.json  the batch set last trained, written after success
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from shared import storage
from shared.batches import now_iso
from shared.errors import ServiceUnavailable
from shared.settings import TRAINING_STATE_PREFIX as STATE_PREFIX
from shared.settings import Settings

LEASE_RENEWALS = 4  # renewals per lease: a holder may miss three before it loses the lock

log = logging.getLogger(__name__)


class TrainingState:
    def __init__(self, settings: Settings, group: int):
        self.settings = settings
        self.bucket = settings.batch_bucket
        self.lock_key = f"{STATE_PREFIX}group={group}/lock.json"
        self.trained_key = f"{STATE_PREFIX}group={group}/trained.json"
        self.taken_over: dict | None = None  # the expired holder's record, when acquire took its lock over

    def trained(self) -> dict | None:
        found = storage.read_json(self.settings, self.bucket, self.trained_key)
        return found[0] if found else None

    def record_trained(self, training_id: str, numbers: list[int]) -> None:
        body = {"training_id": training_id, "batches": numbers, "trained_at": now_iso()}
        storage.write_json(self.settings, self.bucket, self.trained_key, body)

    @contextmanager
    def lock(self, training_id: str, numbers: list[int]) -> Iterator[dict | None]:
        """Yields None when we hold the lock (renewed meanwhile, released on exit), else the holder's record."""
        lease = self.settings.training_lock_lease
        record = {"training_id": training_id, "batches": numbers, "started_at": now_iso(),
                  "expires_at": time.time() + lease}
        holder = self.acquire(record)
        if holder is not None:
            yield holder
            return
        stop = threading.Event()
        heartbeat = threading.Thread(target=self.keep_lease, args=(record, stop), name="lock-lease", daemon=True)
        heartbeat.start()
        try:
            yield None
        finally:
            stop.set()
            heartbeat.join()
            self.release(training_id)

    def release(self, training_id: str) -> None:
        """Delete the lock if it is still ours and its lease has time left.

        MinIO ignores If-Match on DELETE, so the delete cannot be conditional. It is safe while
        our lease runs, because a rival only takes a lock over once its lease has ended. A lock
        that another trainer took over while we stalled, or whose lease ran out, is left alone.
        """
        found = storage.read_json(self.settings, self.bucket, self.lock_key)
        if found is None:
            return
        holder = found[0]
        time_left = float(holder.get("expires_at", 0)) - time.time()
        if holder.get("training_id") == training_id and time_left > self.settings.training_lock_lease / LEASE_RENEWALS:
            storage.remove(self.settings, self.bucket, self.lock_key)
        else:
            log.warning("training %s leaves the lock to %s", training_id, holder.get("training_id"))

    def keep_lease(self, record: dict, stop: threading.Event) -> None:
        """Push our lease's end forward until `stop`; a killed process stops renewing, so its lock expires."""
        lease = self.settings.training_lock_lease
        while not stop.wait(lease / LEASE_RENEWALS):
            try:
                if not self.renew(record, lease):
                    log.warning("training %s lost its lock to another trainer", record["training_id"])
                    return
            except ServiceUnavailable as exc:
                # MinIO blinked: the lease has time left, the next beat tries again
                log.warning("renewing the lock of training %s failed: %s", record["training_id"], exc.message)

    def renew(self, record: dict, lease: float) -> bool:
        """Extend our lease; False when the lock is no longer ours."""
        found = storage.read_json(self.settings, self.bucket, self.lock_key)
        if found is None or found[0].get("training_id") != record["training_id"]:
            return False
        return self.put({**found[0], "expires_at": time.time() + lease}, etag=found[1])

    def acquire(self, record: dict) -> dict | None:
        for _ in range(3):
            if self.put(record):
                return None
            found = storage.read_json(self.settings, self.bucket, self.lock_key)
            if found is None:
                continue  # released between our two requests: try again
            holder, etag = found
            if float(holder.get("expires_at", 0)) > time.time():
                return holder
            # the holder's lease ran out (it crashed): take over unless someone else just did
            if self.put(record, etag=etag):
                self.taken_over = holder
                return None
        return {"training_id": "unknown"}  # the lock kept changing hands: someone is training

    def put(self, record: dict, etag: str | None = None) -> bool:
        """Write the lock if it is absent (no `etag`) or still at `etag`; False when it is not."""
        data = storage.json_bytes(record)
        try:
            if etag is None:
                storage.write_once(self.settings, self.bucket, self.lock_key, data)
            else:
                storage.replace(self.settings, self.bucket, self.lock_key, data, etag)
        except storage.PreconditionFailed:
            return False
        return True
