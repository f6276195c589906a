"""fetch-batch's pure parts: reading the Data API's answer, checking it, calling the API with retries."""

from __future__ import annotations

import json
import socket
import unicodedata

import orjson
import pytest
import requests

from shared.collect import ALL_COLLECTED, call_data_api, excerpt, interpret, same_text, validate_payload
from shared.errors import UpstreamError
from shared.settings import load_settings
from tests.http_support import LoopbackServer, QuietHandler

URL = "http://127.0.0.1:8090/data?group_number=6"
# a valid Data API row (as tests/unit/test_dataset.py builds one)
ROW = ["2596", "51", "3", "258", "0", "510", "221", "232", "148", "6279", "Rawah", "C7745", "1"]
PAYLOAD = {"group_number": 6, "batch_number": 3, "data": [ROW, ROW]}


def response(status: int, body: bytes) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = body
    return answer


def as_json(value) -> bytes:
    return orjson.dumps(value)


def upstream_message(call) -> str:
    with pytest.raises(UpstreamError) as caught:
        call()
    return caught.value.message


# interpret


def test_a_200_object_is_the_payload():
    assert interpret(response(200, as_json(PAYLOAD)), URL) == PAYLOAD


def test_the_all_collected_answer_is_none():
    assert interpret(response(400, as_json({"detail": ALL_COLLECTED})), URL) is None


def test_the_all_collected_answer_in_another_normal_form_with_spaces_is_none():
    decomposed = unicodedata.normalize("NFD", ALL_COLLECTED)
    assert decomposed != ALL_COLLECTED
    body = json.dumps({"detail": f"  {decomposed}\n"}, ensure_ascii=False).encode()
    assert interpret(response(400, body), URL) is None


def test_the_all_collected_text_under_another_status_is_an_error():
    message = upstream_message(lambda: interpret(response(404, as_json({"detail": ALL_COLLECTED})), URL))
    assert message.startswith(f"Data API at {URL} answered 404")


def test_another_400_names_the_status_and_the_detail():
    message = upstream_message(lambda: interpret(response(400, as_json({"detail": "Número de grupo inválido"})), URL))
    assert message == f"Data API at {URL} answered 400: Número de grupo inválido"


def test_a_422_without_a_detail_shows_the_body():
    message = upstream_message(lambda: interpret(response(422, as_json({"problem": "x"})), URL))
    assert "answered 422" in message and "problem" in message


def test_a_json_list_is_an_error():
    message = upstream_message(lambda: interpret(response(200, as_json([ROW])), URL))
    assert message == f"Data API at {URL} answered a JSON list, expected an object"


def test_a_body_that_is_not_json_is_an_error_showing_it():
    body = b"<html>\n  <body>Bad   Gateway</body>\n</html>"
    message = upstream_message(lambda: interpret(response(200, body), URL))
    assert "answered 200 with a body that is not JSON we can use" in message
    assert message.endswith("<html> <body>Bad Gateway</body> </html>")


# validate_payload


def test_a_valid_payload_gives_batch_and_rows():
    assert validate_payload(PAYLOAD, 6) == (3, [ROW, ROW])


def test_missing_keys_are_named():
    message = upstream_message(lambda: validate_payload({"group_number": 6}, 6))
    assert message.startswith("Data API answer lacks batch_number, data:")


def test_an_answer_for_another_group_is_refused():
    message = upstream_message(lambda: validate_payload({**PAYLOAD, "group_number": 5}, 6))
    assert message == "Data API answered for group 5, we asked for group 6"


def test_a_group_as_a_string_is_refused():
    message = upstream_message(lambda: validate_payload({**PAYLOAD, "group_number": "6"}, 6))
    assert "group '6'" in message


def test_a_bool_group_is_refused_though_true_equals_1():
    message = upstream_message(lambda: validate_payload({**PAYLOAD, "group_number": True}, 1))
    assert "group True" in message


@pytest.mark.parametrize("batch", [0, -1, "3", True, 3.0, None])
def test_a_batch_number_that_is_not_a_positive_int_is_refused(batch):
    message = upstream_message(lambda: validate_payload({**PAYLOAD, "batch_number": batch}, 6))
    assert message == f"Data API sent batch_number {batch!r}: expected a positive integer"


def test_invalid_rows_are_refused_with_the_fields_named():
    bad = list(ROW)
    bad[0] = "high"  # Elevation
    bad[10] = "Nowhere"  # Wilderness_Area
    with pytest.raises(UpstreamError) as caught:
        validate_payload({**PAYLOAD, "data": [ROW, bad]}, 6)
    assert caught.value.message.startswith("Data API sent invalid rows for batch 3:")
    assert {detail["field"] for detail in caught.value.details} == {"Elevation", "Wilderness_Area"}
    assert {detail["row"] for detail in caught.value.details} == {1}


def test_no_rows_are_refused():
    message = upstream_message(lambda: validate_payload({**PAYLOAD, "data": []}, 6))
    assert message.startswith("Data API sent invalid rows for batch 3")


# excerpt and same_text


def test_excerpt_collapses_whitespace():
    assert excerpt("  a\n\tb   c  ") == "a b c"


def test_excerpt_keeps_text_at_the_limit():
    assert excerpt("x" * 200) == "x" * 200


def test_excerpt_cuts_past_the_limit_with_an_ellipsis():
    assert excerpt("x" * 201) == "x" * 200 + "…"
    assert excerpt("abcdef", limit=3) == "abc…"


def test_same_text_ignores_normal_form_and_surrounding_space_only():
    assert same_text(unicodedata.normalize("NFD", "recolectó "), "recolectó")
    assert not same_text("recolecto", "recolectó")


# call_data_api against a loopback server


def settings_for(url: str, attempts: int = 3):
    return load_settings({"DATA_API_URL": url, "DATA_API_ATTEMPTS": str(attempts), "DATA_API_BACKOFF": "0.01",
                          "HTTP_TIMEOUT": "2", "GROUP_NUMBER": "6"})


def scripted_server(answers: list[tuple[int, bytes]], paths: list[str]) -> LoopbackServer:
    """Answers each GET with the next (status, body); the last one repeats."""

    class Handler(QuietHandler):
        def do_GET(self):
            paths.append(self.path)
            status, body = answers[min(len(paths), len(answers)) - 1]
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return LoopbackServer(Handler)


def test_a_5xx_is_retried_until_the_api_answers():
    paths: list[str] = []
    with scripted_server([(503, b"busy"), (500, b"oops"), (200, as_json(PAYLOAD))], paths) as server:
        payload = call_data_api(settings_for(f"http://127.0.0.1:{server.port}"))
    assert payload == PAYLOAD
    assert paths == ["/data?group_number=6"] * 3


def test_a_4xx_is_not_retried():
    paths: list[str] = []
    with scripted_server([(400, as_json({"detail": ALL_COLLECTED})), (200, as_json(PAYLOAD))], paths) as server:
        assert call_data_api(settings_for(f"http://127.0.0.1:{server.port}")) is None
    assert len(paths) == 1


def test_a_5xx_on_every_attempt_is_an_error_naming_the_last_answer():
    paths: list[str] = []
    with scripted_server([(502, b"bad\n gateway")], paths) as server:
        url = f"http://127.0.0.1:{server.port}"
        message = upstream_message(lambda: call_data_api(settings_for(url, attempts=2)))
    assert message == f"Data API at {url}/data?group_number=6 answered 502: bad gateway (after 2 attempts)"
    assert len(paths) == 2


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_connection_is_not_reachable_after_every_attempt():
    url = f"http://127.0.0.1:{closed_port()}"
    message = upstream_message(lambda: call_data_api(settings_for(url, attempts=3)))
    assert message == f"Data API at {url}/data?group_number=6 is not reachable (ConnectionError) (after 3 attempts)"


def test_a_single_attempt_is_named_in_the_singular():
    url = f"http://127.0.0.1:{closed_port()}"
    message = upstream_message(lambda: call_data_api(settings_for(url, attempts=1)))
    assert message.endswith("is not reachable (ConnectionError) (after 1 attempt)")
