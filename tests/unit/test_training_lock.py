"""shared/training_lock.py without a MinIO: when a trainer may delete the lock on its way out."""

from __future__ import annotations

import time

import pytest

from shared import storage
from shared.settings import load_settings
from shared.training_lock import TrainingState

LEASE = 60.0


@pytest.fixture
def lock_store(monkeypatch) -> dict:
    """The lock objects by key, standing in for MinIO's reads and deletes."""
    objects: dict = {}
    monkeypatch.setattr(storage, "read_json", lambda settings, bucket, key: (objects[key], "etag") if key in objects
                        else None)
    monkeypatch.setattr(storage, "remove", lambda settings, bucket, key: objects.pop(key))
    return objects


@pytest.fixture
def state() -> TrainingState:
    return TrainingState(load_settings({"TRAINING_LOCK_LEASE_SECONDS": str(LEASE)}), 6)


def holding(training_id: str, seconds_left: float) -> dict:
    return {"training_id": training_id, "batches": [1], "expires_at": time.time() + seconds_left}


def test_our_lock_with_its_lease_running_is_deleted(state, lock_store):
    lock_store[state.lock_key] = holding("ours", LEASE * 0.75)
    state.release("ours")
    assert state.lock_key not in lock_store


@pytest.mark.parametrize(
    ("holder", "why"),
    [(holding("theirs", LEASE), "taken over while we stalled"),
     (holding("ours", 1.0), "our lease is about to end: a rival may be taking it over now"),
     (holding("ours", -5.0), "our lease ended")],
)
def test_a_lock_that_may_be_someone_elses_is_left(state, lock_store, holder, why):
    lock_store[state.lock_key] = holder
    state.release("ours")
    assert lock_store[state.lock_key] == holder, why


def test_an_absent_lock_is_nothing_to_release(state, lock_store):
    state.release("ours")
    assert lock_store == {}
