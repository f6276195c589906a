"""How batches are kept in MinIO: one JSON object per (group, batch), written once.

Key:      <BATCH_PREFIX>group=<G>/batch=<BB>.json   e.g. batches/group=6/batch=03.json
Body:     {"group_number", "batch_number", "columns", "rows" (lists of 13 strings, as
          the Data API sent them), "fetched_at", "source"}
Metadata: rows, checksum-sha256 (of the body), fetched-at (ISO 8601 UTC), source (URL)

A batch is stored by one PUT of the whole body, which MinIO makes visible atomically:
an object under this layout is always complete. The PUT is conditional (`If-None-Match: *`):
MinIO leaves an existing object alone, so a batch is written once even by two fetches at once.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from shared import storage
from shared.errors import ServiceUnavailable, UpstreamError
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
    """Write the batch unless it is already stored; either way describe the stored object.

    The write is conditional (MinIO checks that the key is absent), so of two fetches of the
    same batch at once one stores it and the other reports the stored object.
    """
    key = batch_key(settings, group, batch)
    storage.ensure_bucket(settings, settings.batch_bucket)
    fetched_at = now_iso()
    body = json.dumps(
        {"group_number": group, "batch_number": batch, "columns": list(COLUMNS), "rows": rows,
         "fetched_at": fetched_at, "source": source},
        separators=(",", ":"),
    ).encode()
    checksum = hashlib.sha256(body).hexdigest()
    metadata = {"rows": str(len(rows)), "checksum-sha256": checksum, "fetched-at": fetched_at, "source": source}
    try:
        storage.write_once(settings, settings.batch_bucket, key, body, metadata=metadata)
    except storage.PreconditionFailed:
        existing = storage.stat(settings, settings.batch_bucket, key)
        if existing is None:  # deleted again in between (make reset-group): nothing to describe
            raise ServiceUnavailable(f"batch {settings.batch_bucket}/{key} was deleted while it was stored; "
                                     "fetch it again") from None
        return StoreResult(info_from_stat(existing), stored=False)
    info = BatchInfo(batch, key, len(rows), fetched_at, source, checksum)
    return StoreResult(info, stored=True)


def prepare_bucket(settings: Settings) -> None:
    """Make sure MinIO answers and the batch bucket exists (ServiceUnavailable otherwise)."""
    storage.ensure_bucket(settings, settings.batch_bucket)


def list_batches(settings: Settings, group: int) -> list[BatchInfo]:
    """The group's stored batches, by batch number (empty if the bucket does not exist yet)."""
    if not storage.bucket_exists(settings, settings.batch_bucket):
        return []
    infos = []
    for key in storage.keys(settings, settings.batch_bucket, group_prefix(settings, group)):
        found = storage.stat(settings, settings.batch_bucket, key) if KEY_PATTERN.search(key) else None
        if found is not None:
            infos.append(info_from_stat(found))
    return sorted(infos, key=lambda info: info.batch_number)


def load_batch(settings: Settings, group: int, batch: int) -> dict:
    """The stored body of one batch; its checksum is verified against the metadata."""
    key = batch_key(settings, group, batch)
    found = storage.read(settings, settings.batch_bucket, key)
    if found is None:
        raise ServiceUnavailable(f"MinIO at {settings.minio_endpoint} has no batch object {settings.batch_bucket}/{key}")
    expected = found.metadata.get("checksum-sha256", "")
    if expected and hashlib.sha256(found.body).hexdigest() != expected:
        raise UpstreamError(f"batch object {settings.batch_bucket}/{key} does not match its checksum")
    return json.loads(found.body)


def load_rows(settings: Settings, group: int) -> list[list[str]]:
    """All rows of all the group's stored batches, in batch order (duplicates kept)."""
    rows: list[list[str]] = []
    for info in list_batches(settings, group):
        rows += load_batch(settings, group, info.batch_number)["rows"]
    return rows


def delete_batches(settings: Settings, group: int) -> int:
    """Remove every stored batch of the group (for reruns); the number removed."""
    if not storage.bucket_exists(settings, settings.batch_bucket):
        return 0
    keys = storage.keys(settings, settings.batch_bucket, group_prefix(settings, group))
    storage.remove_many(settings, settings.batch_bucket, keys)
    return len(keys)


def info_from_stat(found: storage.ObjectInfo) -> BatchInfo:
    match = KEY_PATTERN.search(found.key)
    return BatchInfo(
        batch_number=int(match.group(2)) if match else 0,
        key=found.key,
        rows=int(found.metadata.get("rows", 0)),
        fetched_at=found.metadata.get("fetched-at", ""),
        source=found.metadata.get("source", ""),
        checksum_sha256=found.metadata.get("checksum-sha256", ""),
    )
