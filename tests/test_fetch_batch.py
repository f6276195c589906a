"""fetch-batch through its handler, against the real stand-in and the real MinIO.

The stand-in runs in a thread with a short batch period; MinIO is the session stack's.
Each test writes to a bucket of its own, so nothing collides.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from infra.data_api.synthetic import generate
from shared import storage
from shared.batches import list_batches, load_batch
from shared.settings import load_settings
from tests.conftest import free_port
from tests.data_api_support import Context, Event, FakeDataApi, payload, stand_in

pytestmark = pytest.mark.services

HANDLER = Path(__file__).resolve().parent.parent / "functions" / "fetch-batch" / "handler.py"
GROUP = 6


def load_handler():
    import importlib.util

    spec = importlib.util.spec_from_file_location("fetch_batch_handler", HANDLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handle


handle = load_handler()


def invoke() -> tuple[int, dict]:
    response = handle(Event(), Context())
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def bucket(stack_env, monkeypatch) -> str:
    name = f"fetch-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("BATCH_BUCKET", name)
    monkeypatch.setenv("GROUP_NUMBER", str(GROUP))
    monkeypatch.setenv("DATA_API_ATTEMPTS", "3")
    monkeypatch.setenv("DATA_API_BACKOFF", "0.05")
    monkeypatch.setenv("HTTP_TIMEOUT", "5")
    return name


def objects_in(bucket: str, prefix: str = "batches/") -> list[str]:
    settings = load_settings()
    if not storage.bucket_exists(settings, bucket):
        return []
    return storage.keys(settings, bucket, prefix, recursive=True)


# seconds; long enough for two calls in one window on a loaded machine. A call that stores a
# batch also writes its data-quality report (and asks MLflow for the champion): at a load of 30
# on 2 cores a first call outlasted 5 s, so a second call is made only while the window lasts
PERIOD = 5.0


def test_all_ten_batches_then_complete(bucket, tmp_path, monkeypatch):
    port = free_port()
    with stand_in(tmp_path, port, period=PERIOD) as url:
        monkeypatch.setenv("DATA_API_URL", url)
        started = time.monotonic()
        same_window_checks = 0
        for batch in range(1, 11):
            called = time.monotonic()
            status, body = invoke()
            returned = time.monotonic()  # the Data API moved to this batch before the call returned
            assert status == 200, body
            assert body["batch_number"] == batch and body["stored"] is True and body["complete"] is False
            assert body["rows"] == 5810 and body["key"] == f"batches/group={GROUP}/batch={batch:02d}.json"
            # like batches of one source: none drifts (and there is no champion to compare with)
            assert body["quality"]["flagged"] is False, body["quality"]
            if batch < 10 and returned - called < PERIOD / 2:  # a second call in the same window
                status, again = invoke()
                assert status == 200 and again["batch_number"] == batch  # same batch, not written again
                assert again["stored"] is False and again["reason"] == "already stored"
                assert again["checksum_sha256"] == body["checksum_sha256"]
                same_window_checks += 1
            time.sleep(max(0.0, PERIOD + 0.05 - (time.monotonic() - returned)))
        assert same_window_checks > 0, "no call finished within half a batch period: the machine is too busy"
        print(f"\n10 batches fetched and stored in {time.monotonic() - started:.1f} s ({PERIOD:g} s batch period, "
              f"{same_window_checks} second calls within a window)")

        stored = list_batches(load_settings(), GROUP)
        assert [info.batch_number for info in stored] == list(range(1, 11))
        assert all(info.rows == 5810 and info.source == f"{url}/data?group_number={GROUP}" for info in stored)
        assert len(objects_in(bucket)) == 10
        assert objects_in(bucket, "quality/") == [f"quality/group={GROUP}/batch={n:02d}.json" for n in range(1, 11)]
        for info in stored:
            body = load_batch(load_settings(), GROUP, info.batch_number)  # verifies the checksum
            assert body["batch_number"] == info.batch_number and len(body["rows"]) == 5810

        status, body = invoke()
        assert status == 200 and body["complete"] is True and body["stored"] is False
        assert body["stored_batches"] == 10
        assert len(objects_in(bucket)) == 10


ROWS = generate(50, seed=1)
BAD_ROWS = [list(row) for row in ROWS]
BAD_ROWS[3][0] = "tall"
BAD_ROWS[7][10] = "Yellowstone"


@pytest.mark.parametrize(
    "script, cause, calls",
    [
        ([(500, b"Internal Server Error", 0)], "answered 500", 3),
        ([(503, b"<html>busy</html>", 0)], "answered 503", 3),
        ([(200, b"<html>not json</html>", 0)], "not JSON", 1),
        ([(200, b'{"group_number": 6, "batch_number": 1}', 0)], "lacks data", 1),
        ([(200, b'[["2596"]]', 0)], "expected an object", 1),
        ([(200, payload(GROUP, 1, [["2596", "51"]]), 0)], "expected a list of 13 values", 1),
        ([(200, payload(GROUP, 1, []), 0)], "no rows", 1),
        ([(200, payload(3, 1, ROWS), 0)], "group 3", 1),
        ([(200, payload(GROUP, "one", ROWS), 0)], "batch_number 'one'", 1),
        ([(200, payload(GROUP, 1, BAD_ROWS), 0)], "Elevation, Wilderness_Area", 1),
        ([(400, b'{"detail": "N\\u00famero de grupo inv\\u00e1lido"}', 0)], "answered 400", 1),
        ([(422, b'{"detail": [{"loc": ["query", "group_number"]}]}', 0)], "answered 422", 1),
        ([(200, payload(GROUP, 1, ROWS), 3)], "timed out", 1),
    ],
    ids=["5xx", "503", "non-json", "wrong-shape", "not-object", "short-rows", "empty", "other-group",
         "bad-batch", "bad-values", "invalid-group", "422", "timeout"],
)
def test_data_api_failures_are_502_and_store_nothing(bucket, monkeypatch, script, cause, calls):
    monkeypatch.setenv("HTTP_TIMEOUT", "0.5")
    with FakeDataApi(free_port(), script) as fake:
        monkeypatch.setenv("DATA_API_URL", fake.url)
        status, body = invoke()
    assert status == 502, body
    assert "Data API" in body["error"] and cause in body["error"], body
    assert fake.calls == calls
    assert objects_in(bucket) == []


def test_bad_values_are_listed_by_row_and_field(bucket, monkeypatch):
    with FakeDataApi(free_port(), [(200, payload(GROUP, 1, BAD_ROWS), 0)]) as fake:
        monkeypatch.setenv("DATA_API_URL", fake.url)
        status, body = invoke()
    assert status == 502
    assert [(d["row"], d["field"], d["value"]) for d in body["details"]] == [
        (3, "Elevation", "tall"), (7, "Wilderness_Area", "Yellowstone")
    ]


def test_data_api_down_is_502_after_bounded_retries(bucket, monkeypatch):
    monkeypatch.setenv("DATA_API_URL", f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    status, body = invoke()
    assert status == 502 and "not reachable" in body["error"] and "after 3 attempts" in body["error"]
    assert time.monotonic() - started < 3
    assert objects_in(bucket) == []


def test_a_passing_5xx_is_retried_and_the_batch_stored(bucket, monkeypatch):
    script = [(502, b"bad gateway", 0), (200, payload(GROUP, 4, ROWS), 0)]
    with FakeDataApi(free_port(), script) as fake:
        monkeypatch.setenv("DATA_API_URL", fake.url)
        status, body = invoke()
    assert status == 200 and body["stored"] is True and body["batch_number"] == 4 and fake.calls == 2
    assert objects_in(bucket) == [f"batches/group={GROUP}/batch=04.json"]


def test_minio_unreachable_is_503_and_the_api_is_not_called(bucket, monkeypatch):
    monkeypatch.setenv("MINIO_ENDPOINT", f"127.0.0.1:{free_port()}")
    with FakeDataApi(free_port(), [(200, payload(GROUP, 1, ROWS), 0)]) as fake:
        monkeypatch.setenv("DATA_API_URL", fake.url)
        status, body = invoke()
    assert status == 503 and "MinIO" in body["error"] and "not reachable" in body["error"]
    assert fake.calls == 0


def test_a_short_minio_outage_after_the_fetch_is_waited_out(bucket, monkeypatch):
    """The batch in hand is not served again after its period: storing it is retried."""
    from shared import batches, collect
    from shared.errors import ServiceUnavailable

    real_store, failures = batches.store_batch, []

    def store_after_two_failures(*args, **kwargs):
        if len(failures) < 2:
            failures.append(1)
            raise ServiceUnavailable("MinIO at 127.0.0.1:1 is not reachable (test)")
        return real_store(*args, **kwargs)

    monkeypatch.setattr(collect, "STORE_RETRY_DELAYS", (0.0, 0.0, 0.0))
    monkeypatch.setattr(batches, "store_batch", store_after_two_failures)
    with FakeDataApi(free_port(), [(200, payload(GROUP, 2, ROWS), 0)]) as fake:
        monkeypatch.setenv("DATA_API_URL", fake.url)
        status, body = invoke()
    assert status == 200 and body["stored"] is True and body["batch_number"] == 2 and fake.calls == 1
    assert objects_in(bucket) == [f"batches/group={GROUP}/batch=02.json"]


def test_a_long_minio_outage_after_the_fetch_is_503_naming_the_batch(bucket, monkeypatch):
    from shared import batches, collect
    from shared.errors import ServiceUnavailable

    def store_never(*args, **kwargs):
        raise ServiceUnavailable("MinIO at 127.0.0.1:1 is not reachable (test)")

    monkeypatch.setattr(collect, "STORE_RETRY_DELAYS", (0.0, 0.0))
    monkeypatch.setattr(batches, "store_batch", store_never)
    with FakeDataApi(free_port(), [(200, payload(GROUP, 3, ROWS), 0)]) as fake:
        monkeypatch.setenv("DATA_API_URL", fake.url)
        status, body = invoke()
    assert status == 503
    assert body["error"].startswith("batch 3 was fetched but not stored after 3 attempts: MinIO at 127.0.0.1:1")
    assert objects_in(bucket) == []


def test_a_bad_setting_is_named(bucket, monkeypatch):
    monkeypatch.setenv("DATA_API_URL", "ftp://nowhere")
    status, body = invoke()
    assert status == 500 and "DATA_API_URL" in body["error"]


def test_reset_group_restarts_the_api_and_deletes_stored_batches(bucket, tmp_path, monkeypatch, capsys):
    from infra.data_api.reset import main as reset

    with stand_in(tmp_path, free_port(), period=300) as url:
        monkeypatch.setenv("DATA_API_URL", url)
        assert invoke()[1]["batch_number"] == 1
        assert reset(["--group", str(GROUP)]) == 0
        assert objects_in(bucket) == []
        status, body = invoke()
        assert status == 200 and body["batch_number"] == 1 and body["stored"] is True
    assert "removed 1 stored batches" in capsys.readouterr().out


def test_two_fetches_of_one_batch_at_once_store_it_once(bucket):
    from concurrent.futures import ThreadPoolExecutor

    from shared.batches import store_batch

    settings = load_settings()
    rows = [[str(n)] * 13 for n in range(3)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: store_batch(settings, GROUP, 1, rows, f"test://fetch-{n}"), range(4)))
    assert sorted(result.stored for result in results) == [False, False, False, True]
    stored = next(result.info for result in results if result.stored)
    assert {result.info.checksum_sha256 for result in results} == {stored.checksum_sha256}  # the others describe that object
    assert load_batch(settings, GROUP, 1)["source"] == stored.source
