"""The pipeline's exceptions: their status codes, hierarchy and error bodies (answers: test_http)."""

from __future__ import annotations

import pytest

from shared.errors import (
    MAX_DETAILS,
    BadRequest,
    ConfigError,
    Forbidden,
    InvalidInput,
    MethodNotAllowed,
    PayloadTooLarge,
    PipelineError,
    ServiceUnavailable,
    Unauthorized,
    UpstreamError,
)


@pytest.mark.parametrize(
    "cls, status",
    [
        (PipelineError, 500),
        (ConfigError, 500),
        (BadRequest, 400),
        (Unauthorized, 401),
        (Forbidden, 403),
        (MethodNotAllowed, 405),
        (PayloadTooLarge, 413),
        (InvalidInput, 422),
        (UpstreamError, 502),
        (ServiceUnavailable, 503),
    ],
)
def test_each_class_has_its_status(cls, status):
    assert cls.status == status
    assert cls("x").status == status


@pytest.mark.parametrize("cls", [Unauthorized, Forbidden, MethodNotAllowed, PayloadTooLarge, InvalidInput])
def test_client_errors_are_bad_requests(cls):
    assert issubclass(cls, BadRequest)


@pytest.mark.parametrize("cls", [ConfigError, UpstreamError, ServiceUnavailable])
def test_server_side_errors_are_not_bad_requests(cls):
    assert issubclass(cls, PipelineError) and not issubclass(cls, BadRequest)


def test_every_pipeline_error_is_a_runtime_error_with_its_message():
    exc = InvalidInput("rows are wrong")
    assert isinstance(exc, RuntimeError)
    assert str(exc) == "rows are wrong" and exc.message == "rows are wrong"


def test_body_without_details_has_only_the_message():
    assert BadRequest("no body").to_body() == {"error": "no body"}
    assert BadRequest("no body", details=[]).to_body() == {"error": "no body"}


def test_body_lists_details_and_their_count():
    details = [{"field": "a", "error": "missing"}, {"field": "b", "error": "missing"}]
    assert BadRequest("2 fields", details=details).to_body() == {
        "error": "2 fields", "details": details, "detail_count": 2,
    }


def test_body_caps_details_but_counts_them_all():
    details = [{"row": i, "error": "bad"} for i in range(MAX_DETAILS + 25)]
    body = InvalidInput("many rows", details=details).to_body()
    assert body["details"] == details[:MAX_DETAILS]
    assert body["detail_count"] == MAX_DETAILS + 25
