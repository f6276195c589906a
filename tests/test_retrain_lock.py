"""The training lock in MinIO: renewed while its holder trains, free soon after the holder dies;
an async call that finds it held is retried by the gateway's queue per train-model's annotations."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from mlflow import MlflowClient

from infra.gateway.asyncq import Outcome, RetryPolicy, new_call, policy_from_annotations
from infra.gateway.natsq import JetStreamQueue, QueueSettings
from shared import storage
from shared.settings import load_settings
from shared.training_lock import TrainingState
from tests.conftest import running_stack
from tests.train_support import event, isolate, load_handler, minio_event_body, store_batches, webhook_headers

pytestmark = pytest.mark.services

LEASE = 1.0


@pytest.fixture
def state(stack_env, monkeypatch) -> TrainingState:
    monkeypatch.setenv("BATCH_BUCKET", f"lock-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("TRAINING_LOCK_LEASE_SECONDS", str(LEASE))
    settings = load_settings()
    storage.ensure_bucket(settings, settings.batch_bucket)
    return TrainingState(settings, settings.group_number)


def record(training_id: str, expires_at: float) -> dict:
    return {"training_id": training_id, "batches": [1], "started_at": "", "expires_at": expires_at}


def test_a_holder_keeps_its_lock_past_the_lease_while_it_trains(state):
    with state.lock("first", [1]) as holder:
        assert holder is None
        time.sleep(3 * LEASE)  # three leases: only the renewals keep it
        rival = state.acquire(record("second", time.time() + LEASE))
    assert rival is not None and rival["training_id"] == "first"
    assert storage.read_json(state.settings, state.bucket, state.lock_key) is None  # released on exit


def test_a_holder_that_lost_its_lock_leaves_the_new_holders_lock_on_exit(state):
    with state.lock("stalled", [1]) as holder:
        assert holder is None
        # it stalled past its lease and a rival took the lock over
        storage.write_json(state.settings, state.bucket, state.lock_key, record("rival", time.time() + 10 * LEASE))
    assert storage.read_json(state.settings, state.bucket, state.lock_key)[0]["training_id"] == "rival"


def test_the_lock_of_a_killed_holder_is_taken_over_once_its_lease_ends(state):
    # a holder killed mid-training leaves its lock behind and renews it no more
    storage.write_json(state.settings, state.bucket, state.lock_key, record("killed", time.time() + LEASE))
    assert state.acquire(record("retry", time.time() + LEASE))["training_id"] == "killed"
    time.sleep(LEASE + 0.2)
    with state.lock("retry", [1]) as holder:
        assert holder is None
        assert storage.read_json(state.settings, state.bucket, state.lock_key)[0]["training_id"] == "retry"


# train-model's annotations in stack.yml, with waits scaled down to this test's short lease
RETRY_ANNOTATIONS = {"com.openfaas.retry.attempts": "10", "com.openfaas.retry.codes": "429 502 503 504",
                     "com.openfaas.retry.min_wait": "200ms", "com.openfaas.retry.max_wait": "1s"}


@pytest.fixture
def queue_stack(tmp_path):
    """A NATS of its own (no gateway consumes its stream), started before the test's lease clock runs."""
    with running_stack(tmp_path, services=("nats",)) as started:
        yield started


def test_an_async_call_that_finds_a_dead_holders_lock_is_retried_until_it_trains(stack_env, monkeypatch, queue_stack):
    isolate(monkeypatch, "retried")
    monkeypatch.setenv("BATCH_THRESHOLD", "2")
    monkeypatch.setenv("TRAINING_LOCK_LEASE_SECONDS", str(LEASE))
    settings = load_settings()
    store_batches(settings, [1, 2], rows=200)
    state = TrainingState(settings, settings.group_number)
    killed = {"training_id": "killed", "batches": [1, 2], "started_at": "then", "expires_at": time.time() + 2.5}
    storage.write_json(settings, state.bucket, state.lock_key, killed)  # left by a trainer killed mid-training
    abandoned = MlflowClient(settings.mlflow_tracking_uri).create_run(
        MlflowClient(settings.mlflow_tracking_uri).create_experiment(settings.experiment_name),
        tags={"training_id": "killed", "kind": "training"})

    outcomes = asyncio.run(run_through_queue(queue_stack, minio_event_body(settings, 2), webhook_headers(settings)))

    statuses = [outcome.status for outcome in outcomes]
    assert statuses[:2] == [429, 429] and statuses[-1] == 200, statuses  # retried while the lease ran
    assert set(statuses[:-1]) == {429}
    assert len(statuses) <= 10
    trained = state.trained()
    assert trained["training_id"] not in (None, "killed") and trained["batches"] == [1, 2]
    run = MlflowClient(settings.mlflow_tracking_uri).get_run(abandoned.info.run_id)
    assert run.info.status == "FAILED" and "taken over" in run.data.tags["failure_reason"]
    print(f"\nasync call answered {statuses} and trained once the dead holder's lease ended")


async def run_through_queue(stack, body: bytes, headers: dict) -> list[Outcome]:
    """One async call through the gateway's queue on `stack`'s NATS JetStream, train-model's handler as the
    function; every run's outcome."""
    handler = load_handler()
    outcomes: list[Outcome] = []
    reported = asyncio.Event()

    async def invoke(call: dict) -> Outcome:
        response = await asyncio.to_thread(handler.handle, event(body, headers), None)
        outcomes.append(Outcome(response["statusCode"], {}, b"", 0.0))
        return outcomes[-1]

    async def report(call: dict, outcome: Outcome) -> None:
        reported.set()

    policy = policy_from_annotations(RETRY_ANNOTATIONS, RetryPolicy(attempts=3, min_wait=1.0, max_wait=60.0))
    url = f"nats://{stack.config.host}:{stack.config.ports['nats']}"
    settings = QueueSettings(url, stack.config.secret("nats-password"), max_calls=10, max_bytes=1024 * 1024,
                             ack_wait=30, workers=1, callbacks_at_once=1)
    queue = JetStreamQueue(settings, invoke, report, policy_for=lambda name: policy)
    await queue.start()
    await queue.accept(new_call(str(uuid.uuid4()), "train-model", "POST", "", "", [], body, None))
    try:
        await asyncio.wait_for(reported.wait(), timeout=120)
    finally:
        await queue.stop()
    return outcomes
