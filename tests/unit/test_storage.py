"""shared/storage.py without a MinIO: how MinIO's answers become storage's results and exceptions."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import pytest

from shared import storage
from shared.errors import ConfigError, ServiceUnavailable
from shared.settings import load_settings


@pytest.fixture
def settings(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return with_secrets(tmp_path / "root", {"MINIO_ENDPOINT": f"127.0.0.1:{port}", "HTTP_TIMEOUT": "2"},
                        access_key="pipeline")


def with_secrets(folder, env: dict, access_key: str):
    folder.mkdir()
    (folder / "minio-access-key").write_text(access_key)
    (folder / "minio-secret-key").write_text("not-used")
    return load_settings({**env, "SECRETS_DIR": str(folder)})


@dataclass
class Answer:
    """What storage reads of an HTTP response: its status and body."""

    status: int
    data: bytes


def s3_error(code: str) -> bytes:
    return f"<Error><Code>{code}</Code><Message>said MinIO</Message></Error>".encode()


@pytest.mark.parametrize(("code", "kind"), [
    ("PreconditionFailed", storage.PreconditionFailed),
    ("AccessDenied", storage.Refused),
    ("InvalidAccessKeyId", storage.Refused),
    ("SignatureDoesNotMatch", storage.Refused),
    ("NoSuchBucket", ServiceUnavailable),
    ("InternalError", ServiceUnavailable),
])
def test_each_minio_error_code_becomes_one_storage_exception(settings, code, kind):
    with pytest.raises(kind) as raised, storage._errors(settings):
        raise storage._error_of(settings, Answer(412, s3_error(code)))
    assert type(raised.value) is kind
    assert f"MinIO at {settings.minio_endpoint}" in raised.value.message
    if kind is storage.Refused:
        assert raised.value.code == code


def test_an_answer_that_is_not_minios_xml_is_service_unavailable(settings):
    error = storage._error_of(settings, Answer(502, b"<html>Bad Gateway</html"))
    assert isinstance(error, ServiceUnavailable) and "answered HTTP 502" in error.message


def test_a_minio_that_is_down_is_service_unavailable_naming_the_fix(settings):
    with pytest.raises(ServiceUnavailable, match="is not reachable .*start it with `make up` or set MINIO_ENDPOINT"):
        storage.write_once(settings, "covertype-batches", "training/group=6/lock.json", b"{}")


def test_one_client_per_endpoint_and_credentials(settings, tmp_path):
    assert storage.client(settings) is storage.client(settings)
    other = with_secrets(tmp_path / "other", {"MINIO_ENDPOINT": settings.minio_endpoint}, access_key="someone-else")
    assert storage.client(other) is not storage.client(settings)


def test_a_role_without_a_minio_user_gets_no_client(settings, tmp_path):
    with pytest.raises(ConfigError, match="has no MinIO user"):
        storage.client(load_settings({"SECRETS_DIR": str(tmp_path), "SERVICE_ROLE": "predict"}))


def test_user_metadata_loses_its_prefix_and_case():
    headers = {"X-Amz-Meta-Rows": "3", "x-amz-meta-checksum-sha256": "ab", "Content-Type": "application/json"}
    assert storage.user_metadata(headers) == {"rows": "3", "checksum-sha256": "ab"}
