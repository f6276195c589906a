"""How batches are kept in MinIO: one JSON object per (group, batch), written once.

Key:      <BATCH_PREFIX>group=<G>/batch=<BB>.json   e.g. batches/group=6/batch=03.json
Body:     {"group_number", "batch_number", "columns", "rows" (lists of 13 strings, as
          the Data API sent them), "fetched_at", "source"}
Metadata: rows, checksum-sha256 (of the body), fetched-at (ISO 8601 UTC), source (URL)

A batch is stored by one PUT of the whole body, which MinIO makes visible atomically:
an object under this layout is always complete. `store_batch` looks first and leaves
an existing object alone, so a batch is written once.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from shared.errors import ServiceUnavailable, UpstreamError
from shared.health import minio_client
from shared.schema import COLUMNS
from shared.settings import Settings

KEY_PATTERN = re.compile(r"group=(\d+)/batch=(\d+)\.json$")


@dataclass(frozen=True)
class BatchInfo:
    batch_number: int
    key: str
    rows: int
    fetched_at: str
    source: str
    checksum_sha256: str


@dataclass(frozen=True)
class StoreResult:
    info: BatchInfo
    stored: bool  # False: the batch was already there, nothing written


def group_prefix(settings: Settings, group: int) -> str:
    return f"{settings.batch_prefix}group={group}/"


def batch_key(settings: Settings, group: int, batch: int) -> str:
    return f"{group_prefix(settings, group)}batch={batch:02d}.json"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def store_batch(settings: Settings, group: int, batch: int, rows: list[list[str]], source: str) -> StoreResult:
    """Write the batch unless it is already stored; either way describe the stored object."""
    key = batch_key(settings, group, batch)
    with minio_errors(settings):
        client = minio_client(settings)
        ensure_bucket(client, settings.batch_bucket)
        existing = stat(client, settings.batch_bucket, key)
        if existing is not None:
            return StoreResult(info_from_stat(key, existing), stored=False)
        fetched_at = now_iso()
        body = json.dumps(
            {"group_number": group, "batch_number": batch, "columns": list(COLUMNS), "rows": rows,
             "fetched_at": fetched_at, "source": source},
            separators=(",", ":"),
        ).encode()
        checksum = hashlib.sha256(body).hexdigest()
        metadata = {"rows": str(len(rows)), "checksum-sha256": checksum, "fetched-at": fetched_at, "source": source}
        client.put_object(settings.batch_bucket, key, io.BytesIO(body), len(body),
                          content_type="application/json", metadata=metadata)
    info = BatchInfo(batch, key, len(rows), fetched_at, source, checksum)
    return StoreResult(info, stored=True)


def prepare_bucket(settings: Settings) -> None:
    """Make sure MinIO answers and the batch bucket exists (ServiceUnavailable otherwise)."""
    with minio_errors(settings):
        ensure_bucket(minio_client(settings), settings.batch_bucket)


def list_batches(settings: Settings, group: int) -> list[BatchInfo]:
    """The group's stored batches, by batch number (empty if the bucket does not exist yet)."""
    with minio_errors(settings):
        client = minio_client(settings)
        if not client.bucket_exists(settings.batch_bucket):
            return []
        infos = []
        for obj in client.list_objects(settings.batch_bucket, prefix=group_prefix(settings, group)):
            if KEY_PATTERN.search(obj.object_name):
                infos.append(info_from_stat(obj.object_name, client.stat_object(settings.batch_bucket, obj.object_name)))
    return sorted(infos, key=lambda info: info.batch_number)


def load_batch(settings: Settings, group: int, batch: int) -> dict:
    """The stored body of one batch; its checksum is verified against the metadata."""
    key = batch_key(settings, group, batch)
    with minio_errors(settings):
        client = minio_client(settings)
        response = client.get_object(settings.batch_bucket, key)
        try:
            body = response.read()
            expected = response.headers.get("x-amz-meta-checksum-sha256", "")
        finally:
            response.close()
            response.release_conn()
    if expected and hashlib.sha256(body).hexdigest() != expected:
        raise UpstreamError(f"batch object {settings.batch_bucket}/{key} does not match its checksum")
    return json.loads(body)


def load_rows(settings: Settings, group: int) -> list[list[str]]:
    """All rows of all the group's stored batches, in batch order (duplicates kept)."""
    rows: list[list[str]] = []
    for info in list_batches(settings, group):
        rows += load_batch(settings, group, info.batch_number)["rows"]
    return rows


def delete_batches(settings: Settings, group: int) -> int:
    """Remove every stored batch of the group (for reruns); the number removed."""
    with minio_errors(settings):
        client = minio_client(settings)
        if not client.bucket_exists(settings.batch_bucket):
            return 0
        keys = [obj.object_name for obj in client.list_objects(settings.batch_bucket, prefix=group_prefix(settings, group))]
        errors = list(client.remove_objects(settings.batch_bucket, [DeleteObject(key) for key in keys]))
        if errors:
            raise ServiceUnavailable(f"MinIO could not delete {len(errors)} batch objects: {errors[0].message}")
    return len(keys)


def ensure_bucket(client: Minio, bucket: str) -> None:
    if not client.bucket_exists(bucket):
        try:
            client.make_bucket(bucket)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise


def stat(client: Minio, bucket: str, key: str):
    try:
        return client.stat_object(bucket, key)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject"):
            return None
        raise


def info_from_stat(key: str, stat_result) -> BatchInfo:
    meta = {name.lower().removeprefix("x-amz-meta-"): value for name, value in (stat_result.metadata or {}).items()}
    match = KEY_PATTERN.search(key)
    return BatchInfo(
        batch_number=int(match.group(2)) if match else 0,
        key=key,
        rows=int(meta.get("rows", 0)),
        fetched_at=meta.get("fetched-at", ""),
        source=meta.get("source", ""),
        checksum_sha256=meta.get("checksum-sha256", ""),
    )


@contextmanager
def minio_errors(settings: Settings) -> Iterator[None]:
    """Turn MinIO being down or refusing into ServiceUnavailable naming it."""
    where = f"MinIO at {settings.minio_endpoint}"
    try:
        yield
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ServiceUnavailable(
            f"{where} is not reachable ({type(exc).__name__}): start it with `make up` or set MINIO_ENDPOINT"
        ) from None
    except S3Error as exc:
        raise ServiceUnavailable(f"{where} answered {exc.code}: {exc.message}") from None
