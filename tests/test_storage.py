"""shared/storage.py against the session stack's real MinIO: conditional writes are checked by
MinIO itself, absent objects read as None, and a role's refusal is storage's Refused."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from shared import storage
from shared.settings import load_settings

pytestmark = pytest.mark.services


@pytest.fixture
def bucket(stack_env, monkeypatch) -> tuple:
    """Settings with a fresh batch bucket of their own, and its name."""
    monkeypatch.setenv("BATCH_BUCKET", f"storage-{uuid.uuid4().hex[:8]}")
    settings = load_settings()
    storage.ensure_bucket(settings, settings.batch_bucket)
    return settings, settings.batch_bucket


def test_write_once_creates_and_then_refuses_with_precondition_failed(bucket):
    settings, name = bucket
    storage.write_once(settings, name, "once.json", b'{"first": true}')
    with pytest.raises(storage.PreconditionFailed):
        storage.write_once(settings, name, "once.json", b'{"second": true}')
    assert storage.read_json(settings, name, "once.json")[0] == {"first": True}
    assert storage.stat(settings, name, "once.json").metadata == {}


def test_write_once_keeps_the_metadata_it_was_given(bucket):
    settings, name = bucket
    storage.write_once(settings, name, "meta.json", b"{}", metadata={"rows": "3", "source": "test://a b&c"})
    assert storage.stat(settings, name, "meta.json").metadata == {"rows": "3", "source": "test://a b&c"}


def test_replace_needs_the_current_etag(bucket):
    settings, name = bucket
    storage.write_json(settings, name, "cas.json", {"n": 1})
    _, etag = storage.read_json(settings, name, "cas.json")
    storage.replace(settings, name, "cas.json", storage.json_bytes({"n": 2}), etag)
    with pytest.raises(storage.PreconditionFailed):
        storage.replace(settings, name, "cas.json", storage.json_bytes({"n": 3}), etag)  # stale now
    assert storage.read_json(settings, name, "cas.json")[0] == {"n": 2}


def test_absent_objects_read_as_none_and_metadata_comes_back_as_written(bucket):
    settings, name = bucket
    assert storage.read(settings, name, "absent.json") is None
    assert storage.stat(settings, name, "absent.json") is None
    storage.write(settings, name, "dir/meta.json", b"{}", metadata={"rows": "3", "source": "test://x"})
    found = storage.read(settings, name, "dir/meta.json")
    assert (found.body, found.metadata) == (b"{}", {"rows": "3", "source": "test://x"})
    assert found.etag == storage.stat(settings, name, "dir/meta.json").etag
    assert storage.keys(settings, name) == ["dir/"]
    assert storage.keys(settings, name, recursive=True) == ["dir/meta.json"]


def test_a_conditional_write_refused_to_a_role_is_refused(settings):
    fetch_batch = dataclasses.replace(settings, service_role="fetch-batch")  # may not touch the training lock
    with pytest.raises(storage.Refused) as refused:
        storage.write_once(fetch_batch, settings.batch_bucket, f"training/group=99/{uuid.uuid4().hex}.json", b"{}")
    assert refused.value.code == "AccessDenied"
