"""shared/batches.py without a MinIO: the key layout, write-once storing, checksummed reads."""

from __future__ import annotations

import hashlib
import json

import pytest

from shared import batches, storage
from shared.errors import ServiceUnavailable, UpstreamError
from shared.settings import load_settings

ROW = ["2596", "51", "3", "258", "0", "510", "221", "232", "148", "6279", "Rawah", "C7745", "5"]


@pytest.fixture
def settings():
    return load_settings({})


@pytest.fixture
def bucket(monkeypatch) -> dict:
    """The batch bucket's objects by key, standing in for MinIO; write_once honours If-None-Match."""
    objects: dict[str, storage.Object] = {}

    def write_once(settings, bucket, key, data, metadata=None):
        if key in objects:
            raise storage.PreconditionFailed(f"{key} exists")
        objects[key] = storage.Object(key, "etag", dict(metadata or {}), data)

    monkeypatch.setattr(storage, "ensure_bucket", lambda settings, bucket: None)
    monkeypatch.setattr(storage, "bucket_exists", lambda settings, bucket: bool(objects))
    monkeypatch.setattr(storage, "write_once", write_once)
    monkeypatch.setattr(storage, "read", lambda settings, bucket, key: objects.get(key))
    monkeypatch.setattr(storage, "stat", lambda settings, bucket, key: objects.get(key))
    monkeypatch.setattr(storage, "keys", lambda settings, bucket, prefix: [k for k in objects if k.startswith(prefix)])
    monkeypatch.setattr(storage, "remove_many", lambda settings, bucket, names: [objects.pop(k) for k in names])
    return objects


def rows(batch: int, count: int = 2) -> list[list[str]]:
    return [[*ROW[:-1], str(batch)] for _ in range(count)]


def test_keys_are_group_then_two_digit_batch(settings):
    key = batches.batch_key(settings, 6, 3)
    assert key == "batches/group=6/batch=03.json"
    assert key.startswith(batches.group_prefix(settings, 6))
    assert not key.startswith(batches.group_prefix(settings, 60))
    assert batches.KEY_PATTERN.search(key).groups() == ("6", "03")
    assert batches.KEY_PATTERN.search("batches/group=6/notes.txt") is None


def test_the_stored_body_and_metadata_describe_each_other(settings, bucket):
    result = batches.store_batch(settings, 6, 3, rows(3), "http://data-api/data")
    stored = bucket[result.info.key]
    body = json.loads(stored.body)
    assert result.stored and body["rows"] == rows(3) and body["batch_number"] == 3
    assert stored.metadata["checksum-sha256"] == hashlib.sha256(stored.body).hexdigest() == result.info.checksum_sha256
    assert batches.info_from_stat(stored) == result.info


def test_info_comes_from_the_key_and_the_metadata():
    found = storage.ObjectInfo("batches/group=6/batch=12.json", "e",
                               {"rows": "7", "fetched-at": "2026-01-01T00:00:00+00:00", "source": "s",
                                "checksum-sha256": "ab"})
    info = batches.info_from_stat(found)
    assert (info.batch_number, info.rows, info.fetched_at, info.source, info.checksum_sha256) == (
        12, 7, "2026-01-01T00:00:00+00:00", "s", "ab")


def test_a_batch_stored_already_is_described_not_written_again(settings, bucket):
    first = batches.store_batch(settings, 6, 3, rows(3), "first")
    again = batches.store_batch(settings, 6, 3, rows(3, count=5), "second")
    assert not again.stored
    assert again.info == first.info
    assert json.loads(bucket[first.info.key].body)["source"] == "first"


def test_a_batch_deleted_while_it_was_stored_is_service_unavailable(settings, bucket, monkeypatch):
    monkeypatch.setattr(storage, "stat", lambda settings, bucket, key: None)
    batches.store_batch(settings, 6, 3, rows(3), "first")
    with pytest.raises(ServiceUnavailable, match="deleted while it was stored"):
        batches.store_batch(settings, 6, 3, rows(3), "second")


def test_a_body_that_does_not_match_its_checksum_is_refused(settings, bucket):
    key = batches.store_batch(settings, 6, 3, rows(3), "s").info.key
    stored = bucket[key]
    bucket[key] = storage.Object(key, stored.etag, stored.metadata, stored.body.replace(b'Rawah', b'Cache'))
    with pytest.raises(UpstreamError, match="does not match its checksum"):
        batches.load_batch(settings, 6, 3)


def test_a_missing_batch_is_service_unavailable(settings, bucket):
    with pytest.raises(ServiceUnavailable, match="has no batch object"):
        batches.load_batch(settings, 6, 3)


def test_batches_are_listed_and_loaded_in_batch_order_within_the_group(settings, bucket):
    for batch in (10, 2, 7):
        batches.store_batch(settings, 6, batch, rows(batch), "s")
    batches.store_batch(settings, 60, 1, rows(1), "another group")
    bucket["batches/group=6/notes.txt"] = storage.Object("batches/group=6/notes.txt", "e", {}, b"")
    assert [info.batch_number for info in batches.list_batches(settings, 6)] == [2, 7, 10]
    assert [row[-1] for row in batches.load_rows(settings, 6)] == ["2", "2", "7", "7", "10", "10"]


def test_no_bucket_yet_is_no_batches(settings, bucket):
    assert batches.list_batches(settings, 6) == [] and batches.load_rows(settings, 6) == []
    assert batches.delete_batches(settings, 6) == 0


def test_deleting_a_groups_batches_leaves_the_other_groups(settings, bucket):
    for batch in (1, 2):
        batches.store_batch(settings, 6, batch, rows(batch), "s")
    batches.store_batch(settings, 60, 1, rows(1), "s")
    assert batches.delete_batches(settings, 6) == 2
    assert list(bucket) == [batches.batch_key(settings, 60, 1)]
