"""shared.http: request headers, the method check, bearer and basic auth, and the one answer shape."""

import base64

import orjson
import pytest

from shared.errors import InvalidInput, MethodNotAllowed
from shared.http import (
    JSON,
    basic_auth_matches,
    basic_credentials,
    bearer_token,
    error_response,
    header,
    json_response,
    require_method,
    same_secret,
)


def basic(pair: bytes) -> str:
    return "Basic " + base64.b64encode(pair).decode()


def test_a_header_is_found_whatever_the_case_of_its_name():
    headers = {"content-TYPE": "text/csv", "Authorization": "Bearer t"}
    assert header(headers, "Content-Type") == "text/csv"
    assert header(headers, "authorization") == "Bearer t"
    assert header(headers, "X-Missing") == ""
    assert header(None, "Content-Type") == ""


def test_a_method_the_function_does_not_take_is_a_405_naming_the_field():
    require_method("GET", ("POST", "GET"), "fetch-batch")
    with pytest.raises(MethodNotAllowed) as refused:
        require_method("DELETE", ("POST", "GET"), "fetch-batch")
    assert refused.value.status == 405
    assert refused.value.message == "method: fetch-batch takes POST or GET, not DELETE"
    assert refused.value.details == [{"field": "method", "error": "DELETE not allowed"}]


@pytest.mark.parametrize("given, expected, same", [
    ("s3cret", "s3cret", True), ("s3cret", "s3creT", False), ("", "", False), ("", "x", False), ("x", "", False),
    ("pässwort", "pässwort", True),
])
def test_secrets_match_only_when_equal_and_not_empty(given, expected, same):
    assert same_secret(given, expected) is same


@pytest.mark.parametrize("authorization, token", [
    ("Bearer tok-1", "tok-1"), ("bearer  tok-1 ", "tok-1"), ("Bearer", ""), ("Basic tok-1", ""), ("tok-1", ""), ("", ""),
])
def test_the_bearer_token_is_read_from_a_bearer_value_only(authorization, token):
    assert bearer_token(authorization) == token


def test_basic_credentials_are_user_and_password_split_at_the_first_colon():
    assert basic_credentials(basic(b"admin:pw:with:colons")) == ("admin", "pw:with:colons")
    assert basic_credentials("basic " + base64.b64encode(b"admin:").decode()) == ("admin", "")
    assert basic_credentials(basic("jürgen:pässwort".encode())) == ("jürgen", "pässwort")


@pytest.mark.parametrize("authorization", [
    "", "Basic", "Basic !!!", "Basic YWRtaW46cHc", "Bearer " + base64.b64encode(b"admin:pw").decode(),
    basic(b"no colon"), basic(b"\xff\xfe:pw"),
])
def test_a_value_that_is_not_strict_basic_auth_has_no_credentials(authorization):
    assert basic_credentials(authorization) is None


@pytest.mark.parametrize("pair, matches", [
    (b"admin:pw", True), (b"admin:PW", False), (b"Admin:pw", False), (b":pw", False), (b"admin:", False),
    (b"admin:pw:", False),
])
def test_basic_auth_matches_exactly_the_configured_pair(pair, matches):
    assert basic_auth_matches(basic(pair), "admin", "pw") is matches


def test_empty_configured_credentials_never_match():
    assert not basic_auth_matches(basic(b":"), "", "")


def test_answers_are_json_bytes_with_their_content_type():
    answer = json_response(201, {"ok": True, "name": "Ñandú"})
    assert answer["statusCode"] == 201 and answer["headers"] == JSON == {"Content-Type": "application/json"}
    assert orjson.loads(answer["body"]) == {"ok": True, "name": "Ñandú"}


def test_an_error_answer_has_its_status_and_the_one_body_shape():
    answer = error_response(InvalidInput("2 invalid value(s)", details=[{"row": 0, "field": "Slope", "error": "missing"}]))
    assert answer["statusCode"] == 422
    assert orjson.loads(answer["body"]) == {
        "error": "2 invalid value(s)", "details": [{"row": 0, "field": "Slope", "error": "missing"}], "detail_count": 1,
    }
