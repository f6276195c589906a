"""What train-model does with one call: authorize, decide, and train once per set of batches.

Callers: MinIO's webhook (`Authorization: Bearer <minio-webhook-token>`, body
`{"EventName", "Key", "Records": [...]}`) and an admin (HTTP basic auth with the
gateway's `basic-auth-user` / `basic-auth-password`, body `{"force": true}` to retrain
even a set of batches already trained). Only the admin may force (403 for the webhook).

The bucket, not the count of events, is the source of truth: every call lists the
group's stored batches; the lock and marker of shared/training_lock.py make training
happen once per set of batches.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote

from shared import quality
from shared.batches import BatchInfo, list_batches, load_batch
from shared.dataset import frame_from_rows
from shared.errors import BadRequest, Forbidden, PipelineError, ServiceUnavailable, Unauthorized, UpstreamError
from shared.http import basic_auth_matches, bearer_token, header, parse_json, same_secret
from shared.settings import Settings
from shared.tracking import TRACKING_ERRORS, Lineage, fail_running_runs, train_and_track
from shared.training import NotEnoughData, prepare
from shared.training_lock import TrainingState

MAX_CALL_BYTES = 1024 * 1024  # a MinIO event is a few KB

log = logging.getLogger(__name__)


class TrainingFailed(PipelineError):
    status = 500


@dataclass(frozen=True)
class Call:
    force: bool
    keys: tuple[str, ...]  # object keys named by MinIO event records ("bucket/key"), if any


# --- who may call ---------------------------------------------------------------------------
def authorize(settings: Settings, headers: Mapping[str, str]) -> str:
    """'webhook' or 'admin'; Unauthorized otherwise (never says which part was wrong)."""
    supplied = header(headers, "Authorization")
    if same_secret(bearer_token(supplied), settings.secret("minio-webhook-token")):
        return "webhook"
    if basic_auth_matches(supplied, settings.secret("basic-auth-user"), settings.secret("basic-auth-password")):
        return "admin"
    raise Unauthorized("train-model needs the MinIO webhook token (Bearer) or the admin's basic auth")


# --- what was asked -------------------------------------------------------------------------
def parse_call(body: bytes | str | None) -> Call:
    if not body:
        return Call(force=False, keys=())
    payload = parse_json(body, max_bytes=MAX_CALL_BYTES)
    if not isinstance(payload, dict):
        raise BadRequest("body: expected a JSON object")
    force = payload.get("force", False)
    if not isinstance(force, bool):
        raise BadRequest("force: expected true or false")
    records = payload.get("Records", [])
    if not isinstance(records, list):
        raise BadRequest("Records: expected a list of MinIO event records")
    return Call(force=force, keys=tuple(record_key(record) for record in records))


def check_allowed(call: Call, caller: str) -> None:
    """`force` retrains what was trained already: the admin's decision, not an event's."""
    if call.force and caller != "admin":
        raise Forbidden("force: only the admin (basic auth) may force a retraining, not the MinIO webhook token",
                        details=[{"field": "force", "error": "needs the admin's credentials"}])


def allowed_call(settings: Settings, headers: Mapping[str, str], body: bytes | str | None) -> Call:
    """What the request asks for, once its caller is known and may ask it (Unauthorized, BadRequest, Forbidden)."""
    caller = authorize(settings, headers)
    call = parse_call(body)
    check_allowed(call, caller)
    return call


def record_key(record: object) -> str:
    try:
        s3 = record["s3"]  # type: ignore[index]
        # MinIO URL-encodes the key inside records
        return f"{s3['bucket']['name']}/{unquote(s3['object']['key'])}"
    except (TypeError, KeyError):
        raise BadRequest("Records: each record needs s3.bucket.name and s3.object.key") from None


def concerns_group(settings: Settings, call: Call) -> bool:
    """A manual call always does; an event only if it names an object of our batches."""
    if not call.keys:
        return True
    prefix = f"{settings.batch_bucket}/{settings.batch_prefix}group={settings.group_number}/"
    return any(key.startswith(prefix) for key in call.keys)


# --- the decision ---------------------------------------------------------------------------
def handle_call(settings: Settings, call: Call) -> dict:
    group, threshold = settings.group_number, settings.batch_threshold
    if not concerns_group(settings, call):
        return {"status": "ignored", "message": f"the event names no batch of group {group}"}
    batches = list_batches(settings, group)
    numbers = [info.batch_number for info in batches]
    if len(batches) < threshold:
        return {"status": "waiting", "batches": numbers,
                "message": f"waiting {len(batches)}/{threshold} batches of group {group}"}
    state = TrainingState(settings, group)
    if not call.force and (done := already_trained(state, numbers)):
        return done
    training_id = new_training_id()
    with state.lock(training_id, numbers) as holder:
        if holder is not None:
            return {"status": "in_progress", "batches": numbers, "training_id": holder.get("training_id"),
                    "message": f"training {holder.get('training_id')} of batches {span(holder.get('batches', []))} "
                               f"is already running (since {holder.get('started_at')}); no second one started, "
                               "call again later"}
        if state.taken_over is not None:
            fail_abandoned_runs(settings, state.taken_over)
        # checked again under the lock: a training that just finished has written its marker
        if not call.force and (done := already_trained(state, numbers)):
            return done
        result = train(settings, batches, training_id)
        state.record_trained(training_id, numbers)
    return {"status": "trained", "message": f"trained batches {span(numbers)} as training {training_id}", **result}


def http_status(result: dict) -> int:
    """429 while another training holds the lock, so that the gateway's queue retries the call later."""
    return 429 if result.get("status") == "in_progress" else 200


def fail_abandoned_runs(settings: Settings, holder: dict) -> None:
    """Mark FAILED the runs a killed training left RUNNING; MLflow being down must not stop this training."""
    reason = (f"abandoned: its trainer stopped renewing the training lock (lease ended at "
              f"{datetime.fromtimestamp(float(holder.get('expires_at', 0)), UTC).isoformat(timespec='seconds')}); "
              "the lock was taken over")
    try:
        failed = fail_running_runs(settings, str(holder.get("training_id")), reason)
    except TRACKING_ERRORS as exc:
        log.warning("could not mark the runs of abandoned training %s failed: %s", holder.get("training_id"), exc)
        return
    if failed:
        log.warning("marked %d run(s) of abandoned training %s FAILED", len(failed), holder.get("training_id"))


def already_trained(state: TrainingState, numbers: list[int]) -> dict | None:
    trained = state.trained()
    if not trained or trained.get("batches") != numbers:
        return None
    training_id = trained.get("training_id")
    return {"status": "already_trained", "batches": numbers, "training_id": training_id,
            "message": f"batches {span(numbers)} were already trained by training {training_id}; "
                       "no second training started"}


def train(settings: Settings, batches: list[BatchInfo], training_id: str) -> dict:
    group = settings.group_number
    try:
        rows = [row for info in batches for row in load_batch(settings, group, info.batch_number)["rows"]]
        data = prepare(frame_from_rows(rows))
        lineage = Lineage(settings.batch_bucket, group, tuple(b.batch_number for b in batches),
                          tuple(b.key for b in batches))
        stored = quality.Stored(settings, group, {info.batch_number: info for info in batches})
        data_quality = quality.training_summary(quality.reports_for(settings, group, stored))
        return train_and_track(settings, data, lineage, training_id, data_quality)
    except (BadRequest, NotEnoughData, UpstreamError, ServiceUnavailable, *TRACKING_ERRORS, ValueError, OSError) as exc:
        message = exc.message if isinstance(exc, PipelineError) else f"{type(exc).__name__}: {exc}"
        raise TrainingFailed(
            f"training {training_id} failed: {message}; the champion is unchanged, "
            "a later event or a call with {\"force\": true} retries"
        ) from exc


def new_training_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def span(numbers: list[int]) -> str:
    if not numbers:
        return "none"
    contiguous = numbers == list(range(numbers[0], numbers[-1] + 1))
    return f"{numbers[0]}-{numbers[-1]}" if contiguous and len(numbers) > 1 else ",".join(map(str, numbers))
