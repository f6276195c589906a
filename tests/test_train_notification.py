"""MinIO's batch notification: set idempotently at start-up, events queued while the gateway is down."""

from __future__ import annotations

import time
import uuid

import pytest

from infra.bootstrap import bootstrap_minio
from infra.launch import MINIO_WEBHOOK_ID
from shared import storage
from tests.conftest import running_stack

pytestmark = pytest.mark.services


def queue_configs(settings):
    return storage.queue_notifications(settings, settings.batch_bucket)


def test_batch_bucket_notifies_train_model_once_however_often_bootstrapped(stack, settings):
    bootstrap_minio(stack)
    bootstrap_minio(stack)
    (config,) = queue_configs(settings)
    assert config.queue == f"arn:minio:sqs::{MINIO_WEBHOOK_ID}:webhook"
    assert config.events == ["s3:ObjectCreated:*"]
    assert config.prefix_filter_rule.value == settings.batch_prefix


def test_events_wait_in_the_queue_while_the_gateway_is_down(tmp_path):
    """MinIO started although nothing listens at the gateway's address, and keeps the events.

    A MinIO of its own: the session stack's gateway may be running (then events are delivered).
    """
    with running_stack(tmp_path / "state", services=("minio",)) as stack:
        assert_events_queued(stack, stack.settings())


def assert_events_queued(stack, settings) -> None:
    group = 900 + uuid.uuid4().int % 99  # a group train-model ignores, should an event ever reach it
    key = f"{settings.batch_prefix}group={group}/batch=01.json"
    outside = f"elsewhere/{uuid.uuid4().hex}.json"
    for name in (key, outside):
        storage.write(settings, settings.batch_bucket, name, b"{}")
    queue = stack.config.state_dir / "minio" / "events" / f"minio-webhook-{MINIO_WEBHOOK_ID}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        queued = "".join(path.read_text() for path in queue.glob("*.event"))
        if f"group%3D{group}" in queued:
            break
        time.sleep(0.2)
    assert f"group%3D{group}" in queued
    assert outside.split("/")[1] not in queued
    storage.remove(settings, settings.batch_bucket, key)
    storage.remove(settings, settings.batch_bucket, outside)
