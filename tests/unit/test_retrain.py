"""train-model's call handling without services: who may call, and what a call asks for."""

from __future__ import annotations

import base64

import pytest

from shared import retrain
from shared.errors import BadRequest, Forbidden, Unauthorized
from shared.settings import load_settings


@pytest.fixture
def call_settings(tmp_path):
    for name, value in {"minio-webhook-token": "tok-123", "basic-auth-user": "admin",
                        "basic-auth-password": "pw:with:colons"}.items():
        (tmp_path / name).write_text(value)
    return load_settings({"SECRETS_DIR": str(tmp_path)})


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("headers", "who"),
    [({"Authorization": "Bearer tok-123"}, "webhook"), ({"authorization": "bearer tok-123"}, "webhook"),
     ({"Authorization": basic("admin", "pw:with:colons")}, "admin")],
)
def test_authorized_callers(call_settings, headers, who):
    assert retrain.authorize(call_settings, headers) == who


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Bearer tok-12"}, {"Authorization": "tok-123"},
     {"Authorization": basic("admin", "nope")}, {"Authorization": basic("root", "pw:with:colons")},
     {"Authorization": "Basic !!!"}, {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe").decode()}],
)
def test_unauthorized_callers(call_settings, headers):
    with pytest.raises(Unauthorized):
        retrain.authorize(call_settings, headers)


def test_minio_event_keys_are_decoded(call_settings):
    body = b'{"EventName": "s3:ObjectCreated:Put", "Records": [{"s3": {"bucket": {"name": "covertype-batches"},' \
           b' "object": {"key": "batches%2Fgroup%3D6%2Fbatch%3D03.json"}}}]}'
    call = retrain.parse_call(body)
    assert call == retrain.Call(force=False, keys=("covertype-batches/batches/group=6/batch=03.json",))
    assert retrain.concerns_group(call_settings, call)
    assert not retrain.concerns_group(call_settings, retrain.Call(False, ("covertype-batches/batches/group=7/x",)))
    assert retrain.concerns_group(call_settings, retrain.parse_call(b'{"force": true}'))


@pytest.mark.parametrize("body, field", [(b"{", "body"), (b"[]", "body"), (b'{"force": 1}', "force"),
                                         (b'{"Records": {}}', "Records"), (b'{"Records": [{"s3": 1}]}', "Records")])
def test_bad_bodies_name_the_field(body, field):
    with pytest.raises(BadRequest) as caught:
        retrain.parse_call(body)
    assert caught.value.status == 400
    assert caught.value.message.startswith(f"{field}: "), caught.value.message


def test_spans_read_well():
    assert retrain.span(list(range(1, 11))) == "1-10"
    assert retrain.span([1, 3]) == "1,3"
    assert retrain.span([]) == "none"


def test_only_the_admin_may_force_and_credentials_are_checked_before_the_body(call_settings):
    webhook, admin = {"Authorization": "Bearer tok-123"}, {"Authorization": basic("admin", "pw:with:colons")}
    assert retrain.allowed_call(call_settings, admin, b'{"force": true}') == retrain.Call(force=True, keys=())
    assert retrain.allowed_call(call_settings, webhook, b"") == retrain.Call(force=False, keys=())
    with pytest.raises(Forbidden) as refused:
        retrain.allowed_call(call_settings, webhook, b'{"force": true}')
    assert refused.value.status == 403 and refused.value.details[0]["field"] == "force"
    with pytest.raises(Unauthorized):  # a stranger learns nothing about the body, not even that it is bad
        retrain.allowed_call(call_settings, {}, b"{")
