"""fetch-batch's work: take the current batch from the Data API and store it in MinIO.

Order matters for "nothing stored on any failure": MinIO is checked first (503), then
the Data API is called and its answer fully validated (502 naming the cause), and only
then is the batch written, in one PUT, unless that batch number is already stored.
"""

from __future__ import annotations

import time
import unicodedata

import requests

from shared import batches, quality
from shared.dataset import frame_from_rows
from shared.errors import BadRequest, ServiceUnavailable, UpstreamError
from shared.http import parse_json
from shared.settings import Settings

# the real API's answer once a group's last batch has been served
ALL_COLLECTED = "Ya se recolectó toda la información minima necesaria"
# waits between attempts to store a fetched batch: the API will not serve that batch
# again once its period ends, so a short MinIO outage is waited out (within the
# function's 60 s timeout) rather than lose the batch
STORE_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a batch is ~0.6 MB of JSON


def fetch_batch(settings: Settings) -> dict:
    """Fetch and store one batch; a JSON-ready summary of what happened."""
    group = settings.group_number
    batches.prepare_bucket(settings)
    payload = call_data_api(settings)
    if payload is None:
        stored = batches.list_batches(settings, group)
        return {
            "group_number": group, "complete": True, "stored": False, "stored_batches": len(stored),
            "reason": "the Data API has served every batch for this group",
        }
    batch, rows = validate_payload(payload, group)
    result = store_fetched(settings, group, batch, rows)
    return {**stored_summary(settings, group, batch, rows, result), "quality": quality_summary(settings, group, batch)}


def stored_summary(settings: Settings, group: int, batch: int, rows: list, result: batches.StoreResult) -> dict:
    return {
        "group_number": group, "batch_number": batch, "complete": False, "stored": result.stored,
        "reason": "stored" if result.stored else "already stored",
        "rows": len(rows), "stored_rows": result.info.rows, "bucket": settings.batch_bucket, "key": result.info.key,
        "checksum_sha256": result.info.checksum_sha256, "fetched_at": result.info.fetched_at,
        "source": result.info.source,
    }


def quality_summary(settings: Settings, group: int, batch: int) -> dict:
    """The batch's data-quality report (computed once, kept in MinIO), in short.

    The batch is stored by now: a failure here is reported, never fails the call, and the
    report is computed again when a training needs it (`shared.quality.reports_for`)."""
    try:
        report = quality.load(settings, group, batch) or quality.compute_and_store(settings, group, batch)
    except (ServiceUnavailable, UpstreamError) as exc:
        return {"error": exc.message}
    return {"key": quality.quality_key(group, batch), "flagged": report["flagged"],
            "flagged_features": report["flagged_features"]}


def store_fetched(settings: Settings, group: int, batch: int, rows: list) -> batches.StoreResult:
    """Store a fetched batch, waiting out a short MinIO outage (see STORE_RETRY_DELAYS)."""
    delays = (0.0, *STORE_RETRY_DELAYS)
    for attempt, delay in enumerate(delays, start=1):
        time.sleep(delay)
        try:
            return batches.store_batch(settings, group, batch, rows, source=source_url(settings))
        except ServiceUnavailable as exc:
            if attempt == len(delays):
                raise ServiceUnavailable(
                    f"batch {batch} was fetched but not stored after {attempt} attempts: {exc.message}; the Data "
                    "API serves it again only until its batch period ends"
                ) from None
    raise AssertionError("the loop returns or raises")


def source_url(settings: Settings) -> str:
    return f"{settings.data_api_url}/data?group_number={settings.group_number}"


def call_data_api(settings: Settings) -> dict | None:
    """The API's JSON answer; None when it says all data is collected; UpstreamError otherwise.

    Connection errors and 5xx answers are retried with doubling back-off; a timeout is
    not (the API is up but slow, and retrying would multiply the wait).
    """
    url = source_url(settings)
    failure = ""
    for attempt in range(1, settings.data_api_attempts + 1):
        if attempt > 1:
            time.sleep(settings.data_api_backoff * 2 ** (attempt - 2))
        try:
            response = requests.get(url, timeout=settings.http_timeout)
        except requests.Timeout:
            raise UpstreamError(f"Data API at {url} timed out after {settings.http_timeout:g} s") from None
        except requests.ConnectionError as exc:
            failure = f"is not reachable ({type(exc).__name__})"
            continue
        if response.status_code >= 500:
            failure = f"answered {response.status_code}: {excerpt(response.text)}"
            continue
        return interpret(response, url)
    attempts = settings.data_api_attempts
    raise UpstreamError(f"Data API at {url} {failure} (after {attempts} attempt{'s' if attempts > 1 else ''})")


def interpret(response: requests.Response, url: str) -> dict | None:
    try:
        body = parse_json(response.content, max_bytes=MAX_ANSWER_BYTES, what="Data API answer")
    except BadRequest as exc:
        raise UpstreamError(
            f"Data API at {url} answered {response.status_code} with a body that is not JSON we can use "
            f"({exc.message}): {excerpt(response.text)}"
        ) from None
    detail = body.get("detail") if isinstance(body, dict) else None
    if response.status_code == 400 and isinstance(detail, str) and same_text(detail, ALL_COLLECTED):
        return None
    if response.status_code != 200:
        raise UpstreamError(f"Data API at {url} answered {response.status_code}: {excerpt(str(detail or body))}")
    if not isinstance(body, dict):
        raise UpstreamError(f"Data API at {url} answered a JSON {type(body).__name__}, expected an object")
    return body


def validate_payload(payload: dict, group: int) -> tuple[int, list]:
    """The batch number and rows of a /data answer, checked against the contract."""
    missing = [key for key in ("group_number", "batch_number", "data") if key not in payload]
    if missing:
        raise UpstreamError(f"Data API answer lacks {', '.join(missing)}: expected group_number, batch_number, data")
    if payload["group_number"] != group or isinstance(payload["group_number"], bool):
        raise UpstreamError(f"Data API answered for group {payload['group_number']!r}, we asked for group {group}")
    batch = payload["batch_number"]
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise UpstreamError(f"Data API sent batch_number {batch!r}: expected a positive integer")
    try:
        frame_from_rows(payload["data"])
    except BadRequest as exc:
        raise UpstreamError(f"Data API sent invalid rows for batch {batch}: {exc.message}", details=exc.details) from None
    return batch, payload["data"]


def same_text(a: str, b: str) -> bool:
    return unicodedata.normalize("NFC", a).strip() == unicodedata.normalize("NFC", b).strip()


def excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
