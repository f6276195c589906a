"""The training lock in MinIO: renewed while its holder trains, free soon after the holder dies."""

from __future__ import annotations

import time
import uuid

import pytest

from shared.health import minio_client
from shared.retrain import TrainingState, put_json, read_json
from shared.settings import load_settings

pytestmark = pytest.mark.services

LEASE = 1.0


@pytest.fixture
def state(stack_env, monkeypatch) -> TrainingState:
    monkeypatch.setenv("BATCH_BUCKET", f"lock-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("TRAINING_LOCK_LEASE_SECONDS", str(LEASE))
    settings = load_settings()
    minio_client(settings).make_bucket(settings.batch_bucket)
    return TrainingState(settings, settings.group_number)


def record(training_id: str, expires_at: float) -> dict:
    return {"training_id": training_id, "batches": [1], "started_at": "", "expires_at": expires_at}


def test_a_holder_keeps_its_lock_past_the_lease_while_it_trains(state):
    with state.lock("first", [1]) as holder:
        assert holder is None
        time.sleep(3 * LEASE)  # three leases: only the renewals keep it
        rival = state.acquire(record("second", time.time() + LEASE))
    assert rival is not None and rival["training_id"] == "first"
    assert read_json(state.client(), state.bucket, state.lock_key) is None  # released on exit


def test_the_lock_of_a_killed_holder_is_taken_over_once_its_lease_ends(state):
    # a holder killed mid-training leaves its lock behind and renews it no more
    put_json(state.client(), state.bucket, state.lock_key, record("killed", time.time() + LEASE))
    assert state.acquire(record("retry", time.time() + LEASE))["training_id"] == "killed"
    time.sleep(LEASE + 0.2)
    with state.lock("retry", [1]) as holder:
        assert holder is None
        assert read_json(state.client(), state.bucket, state.lock_key)[0]["training_id"] == "retry"
