"""Every object operation the pipeline does in MinIO, through one client per process.

Only this module imports minio. Its functions take the settings, a bucket and a key, and
never let minio's exceptions out:

    absent object                 stat / read / read_json return None
    a condition that fails (412)  PreconditionFailed (write_once, replace)
    credentials refused           Refused, a ServiceUnavailable naming MinIO's error code
    MinIO down or any other error ServiceUnavailable naming MinIO and the fix

`write_once` (`If-None-Match: *`) and `replace` (`If-Match: <etag>`) are real conditional
writes: MinIO checks the condition and the write as one step.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from xml.etree.ElementTree import ParseError

import urllib3
from minio import Minio, MinioAdmin
from minio.credentials import StaticProvider
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from minio.notificationconfig import NotificationConfig, PrefixFilterRule, QueueConfig

from shared.errors import PipelineError, ServiceUnavailable
from shared.settings import Settings

JSON = "application/json"
MISSING = ("NoSuchKey", "NoSuchObject")
CREDENTIALS_REFUSED = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied")
PRESIGNED_FOR = timedelta(minutes=5)
T = TypeVar("T")


class PreconditionFailed(PipelineError):
    """A conditional write found the object not as the condition said; callers catch it."""


class Refused(ServiceUnavailable):
    """MinIO refused our credentials, or this operation to them; `code` is MinIO's error code."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    etag: str
    metadata: dict[str, str]  # user metadata, names lower-case without `x-amz-meta-`


@dataclass(frozen=True)
class Object(ObjectInfo):
    body: bytes


# --- the client -----------------------------------------------------------------------------
def client(settings: Settings) -> Minio:
    """The process's MinIO client for these settings' endpoint and credentials."""
    return _connection(settings)[0]


def _connection(settings: Settings) -> tuple[Minio, urllib3.PoolManager]:
    return _connect(settings.minio_endpoint, settings.minio_access_key, settings.minio_secret_key,
                    settings.minio_secure, settings.http_timeout)


@functools.lru_cache(maxsize=16)
def _connect(endpoint: str, access_key: str, secret_key: str, secure: bool,
             timeout: float) -> tuple[Minio, urllib3.PoolManager]:
    # timeouts, and one retry only: no retry storms against a MinIO that is down
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=timeout, read=timeout),
        retries=urllib3.Retry(total=1, backoff_factor=0.2, status_forcelist=[502, 503, 504]),
        maxsize=16,
    )
    minio = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure, http_client=http)
    return minio, http


def admin(settings: Settings) -> MinioAdmin:
    """MinIO's admin API with the credentials in `settings` (the root account's, at `make up`)."""
    return MinioAdmin(endpoint=settings.minio_endpoint, secure=settings.minio_secure,
                      credentials=StaticProvider(settings.minio_access_key, settings.minio_secret_key))


@contextmanager
def _errors(settings: Settings) -> Iterator[None]:
    where = f"MinIO at {settings.minio_endpoint}"
    try:
        yield
    except S3Error as exc:
        raise _failure(where, exc.code, exc.message) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ServiceUnavailable(
            f"{where} is not reachable ({type(exc).__name__}): start it with `make up` or set MINIO_ENDPOINT"
        ) from None


def _failure(where: str, code: str, message: str) -> PipelineError:
    """The storage exception for MinIO's error `code`."""
    if code == "PreconditionFailed":
        return PreconditionFailed(f"{where}: {message}")
    if code in CREDENTIALS_REFUSED:
        return Refused(f"{where} answered {code}: {message}", code)
    return ServiceUnavailable(f"{where} answered {code}: {message}")


# --- buckets --------------------------------------------------------------------------------
def bucket_exists(settings: Settings, bucket: str) -> bool:
    with _errors(settings):
        return client(settings).bucket_exists(bucket)


def ensure_bucket(settings: Settings, bucket: str) -> None:
    with _errors(settings):
        if client(settings).bucket_exists(bucket):
            return
        try:
            client(settings).make_bucket(bucket)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise


def notify_on_create(settings: Settings, bucket: str, prefix: str, queue_arn: str, config_id: str) -> None:
    """New objects under `prefix` notify `queue_arn`; replaces the bucket's notification set: ours alone."""
    config = NotificationConfig(queue_config_list=[QueueConfig(
        ["s3:ObjectCreated:*"], config_id=config_id, queue=queue_arn, prefix_filter_rule=PrefixFilterRule(prefix),
    )])
    with _errors(settings):
        client(settings).set_bucket_notification(bucket, config)


def queue_notifications(settings: Settings, bucket: str) -> list[QueueConfig]:
    with _errors(settings):
        return client(settings).get_bucket_notification(bucket).queue_config_list


# --- objects --------------------------------------------------------------------------------
def stat(settings: Settings, bucket: str, key: str) -> ObjectInfo | None:
    with _errors(settings):
        found = _unless_missing(lambda: client(settings).stat_object(bucket, key))
    if found is None:
        return None
    return ObjectInfo(key, (found.etag or "").strip('"'), user_metadata(found.metadata or {}))


def read(settings: Settings, bucket: str, key: str) -> Object | None:
    with _errors(settings):
        response = _unless_missing(lambda: client(settings).get_object(bucket, key))
        if response is None:
            return None
        try:
            body = response.read()
        finally:
            response.close()
            response.release_conn()
    etag = response.headers.get("etag", "").strip('"')
    return Object(key, etag, user_metadata(response.headers), body)


def _unless_missing(call: Callable[[], T]) -> T | None:
    """What `call` returns, None when MinIO says the object does not exist."""
    try:
        return call()
    except S3Error as exc:
        if exc.code in MISSING:
            return None
        raise


def read_json(settings: Settings, bucket: str, key: str) -> tuple[Any, str] | None:
    """(value, etag) of a JSON object, None if absent."""
    found = read(settings, bucket, key)
    return None if found is None else (json.loads(found.body), found.etag)


def keys(settings: Settings, bucket: str, prefix: str = "", recursive: bool = False) -> list[str]:
    with _errors(settings):
        return [obj.object_name for obj in client(settings).list_objects(bucket, prefix=prefix, recursive=recursive)]


def write(settings: Settings, bucket: str, key: str, data: bytes, content_type: str = JSON,
          metadata: dict[str, str] | None = None) -> None:
    with _errors(settings):
        client(settings).put_object(bucket, key, io.BytesIO(data), len(data), content_type=content_type,
                                    metadata=metadata)


def write_json(settings: Settings, bucket: str, key: str, value: Any) -> None:
    write(settings, bucket, key, json_bytes(value))


def write_once(settings: Settings, bucket: str, key: str, data: bytes, content_type: str = JSON,
               metadata: dict[str, str] | None = None) -> None:
    """Create the object; PreconditionFailed if it exists already."""
    _put_if(settings, bucket, key, data, content_type, {"If-None-Match": "*"}, metadata)


def replace(settings: Settings, bucket: str, key: str, data: bytes, etag: str, content_type: str = JSON) -> None:
    """Overwrite the object if its ETag is still `etag` (compare-and-swap); PreconditionFailed otherwise."""
    _put_if(settings, bucket, key, data, content_type, {"If-Match": f'"{etag}"'})


def _put_if(settings: Settings, bucket: str, key: str, data: bytes, content_type: str, condition: dict,
            metadata: dict[str, str] | None = None) -> None:
    # minio-py's put_object turns extra headers into user metadata, which MinIO does not check:
    # a presigned URL carries the condition as a real header. Only the host header is signed, so
    # user metadata goes in the signed query string (an unsigned x-amz-meta header is refused).
    minio, http = _connection(settings)
    with _errors(settings):
        meta = {f"x-amz-meta-{name}": value for name, value in (metadata or {}).items()}
        url = minio.get_presigned_url("PUT", bucket, key, expires=PRESIGNED_FOR, extra_query_params=meta or None)
        # no retry: if a first answer were lost, the retry would meet our own write and answer 412
        response = http.request("PUT", url, body=data, headers={"Content-Type": content_type, **condition},
                                retries=False)
        if response.status >= 300:
            raise _error_of(settings, response)


def _error_of(settings: Settings, response: urllib3.BaseHTTPResponse) -> Exception:
    try:
        return S3Error.fromxml(response)
    except ParseError:  # not MinIO's XML: a proxy in between, or MinIO half up
        return ServiceUnavailable(f"MinIO at {settings.minio_endpoint} answered HTTP {response.status}")


def remove(settings: Settings, bucket: str, key: str) -> None:
    with _errors(settings):
        client(settings).remove_object(bucket, key)


def remove_many(settings: Settings, bucket: str, names: list[str]) -> None:
    with _errors(settings):
        errors = list(client(settings).remove_objects(bucket, [DeleteObject(name) for name in names]))
    if errors:
        raise ServiceUnavailable(f"MinIO could not delete {len(errors)} objects of {bucket}: {errors[0].message}")


def json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


def user_metadata(headers) -> dict[str, str]:
    prefix = "x-amz-meta-"
    return {name.lower().removeprefix(prefix): value for name, value in headers.items()
            if name.lower().startswith(prefix)}
