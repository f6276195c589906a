"""The stand-in against the contract in data-api.md: every status code, message and shape."""

from __future__ import annotations

import csv
import time
import warnings

import pytest
import requests

from infra.data_api.app import ALL_COLLECTED, INVALID_GROUP, create_app
from infra.data_api.source import csv_source, synthetic_source
from infra.data_api.synthetic import generate
from shared.dataset import frame_from_rows
from shared.errors import ConfigError
from shared.schema import COLUMNS
from shared.settings.data_api import load_config
from tests.conftest import free_port
from tests.data_api_support import stand_in, stand_in_config

with warnings.catch_warnings():  # starlette's notice about its httpx-based client, not ours to fix
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PERIOD = 300.0
ROWS = 20_000  # a smaller dataset keeps these tests quick; sample = 20000 // 10 // 10 = 200


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def client(tmp_path, clock):
    config = stand_in_config(tmp_path, port=0, period=PERIOD, rows=ROWS)
    return TestClient(create_app(config, clock=clock))


def get_data(client, group=6):
    return client.get("/data", params={"group_number": group})


def test_root_is_a_json_greeting(client):
    response = client.get("/")
    assert response.status_code == 200
    assert isinstance(response.json(), dict) and response.json()


def test_data_shape_strings_and_sample_size(client):
    response = get_data(client)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"group_number", "batch_number", "data"}
    assert body["group_number"] == 6 and body["batch_number"] == 1
    assert len(body["data"]) == ROWS // 10 // 10
    assert all(len(row) == 13 and all(isinstance(value, str) for value in row) for row in body["data"])
    frame_from_rows(body["data"])  # every value valid under our schema


def test_real_sample_size_for_the_full_dataset():
    assert synthetic_source(581012, seed=6).sample_size == 5810


def test_calls_in_the_window_repeat_the_batch_with_a_fresh_sample(client, clock):
    first = get_data(client).json()
    clock.now += PERIOD  # exactly the period: not "more than" it
    second = get_data(client).json()
    assert first["batch_number"] == second["batch_number"] == 1
    assert first["data"] != second["data"]


def test_batches_advance_lazily_then_all_collected(client, clock):
    seen = []
    for _ in range(10):
        seen.append(get_data(client).json()["batch_number"])
        clock.now += PERIOD + 1
    assert seen == list(range(1, 11))
    for _ in range(2):  # every further call, in the window or after it
        response = get_data(client)
        assert response.status_code == 400
        assert response.json() == {"detail": ALL_COLLECTED}
    assert ALL_COLLECTED == "Ya se recolectó toda la información minima necesaria"


def test_after_batch_10_is_served_even_the_same_window_is_refused(client, clock):
    for _ in range(9):
        get_data(client)
        clock.now += PERIOD + 1
    assert get_data(client).json()["batch_number"] == 10
    assert get_data(client).status_code == 400


def test_groups_advance_independently(client, clock):
    get_data(client, 6)
    clock.now += PERIOD + 1
    assert get_data(client, 6).json()["batch_number"] == 2
    assert get_data(client, 3).json()["batch_number"] == 1


@pytest.mark.parametrize("group", [0, 11, -1, 100])
@pytest.mark.parametrize("path", ["/data", "/restart_data_generation"])
def test_invalid_group_is_400(client, path, group):
    response = client.get(path, params={"group_number": group})
    assert response.status_code == 400
    assert response.json() == {"detail": INVALID_GROUP}
    assert INVALID_GROUP == "Número de grupo inválido"


@pytest.mark.parametrize("query", ["", "?group_number=", "?group_number=abc", "?group_number=6.5", "?group=6"])
@pytest.mark.parametrize("path", ["/data", "/restart_data_generation"])
def test_missing_or_non_integer_group_is_422_fastapi_shape(client, path, query):
    response = client.get(path + query)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    assert detail[0]["loc"] == ["query", "group_number"]
    assert {"type", "msg"} <= set(detail[0])


def test_restart_resets_the_group_to_no_batch_served(client, clock):
    for _ in range(10):
        get_data(client)
        clock.now += PERIOD + 1
    assert get_data(client).status_code == 400
    response = client.get("/restart_data_generation", params={"group_number": 6})
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert get_data(client).json()["batch_number"] == 1


def test_state_survives_a_restart_of_the_api(tmp_path, clock):
    config = stand_in_config(tmp_path, port=0, period=PERIOD, rows=ROWS)
    get_data(TestClient(create_app(config, clock=clock)))
    clock.now += PERIOD + 1
    assert get_data(TestClient(create_app(config, clock=clock))).json()["batch_number"] == 2
    assert (tmp_path / "data-api" / "state.json").is_file()
    assert not [p for p in (tmp_path / "data-api").iterdir() if p.name != "state.json"]  # no temp files left


def test_a_real_server_in_real_time(tmp_path):
    """Over real HTTP with a 1 s period: window, advance, and the stand-in's JSON content type."""
    port = free_port()
    with stand_in(tmp_path, port, period=1, rows=ROWS) as url:
        first = requests.get(f"{url}/data", params={"group_number": 6}, timeout=10)
        again = requests.get(f"{url}/data", params={"group_number": 6}, timeout=10)
        assert first.headers["content-type"].startswith("application/json")
        assert first.json()["batch_number"] == again.json()["batch_number"] == 1
        time.sleep(1.1)
        assert requests.get(f"{url}/data", params={"group_number": 6}, timeout=10).json()["batch_number"] == 2
        missing = requests.get(f"{url}/data", timeout=10)
        assert missing.status_code == 422


def test_csv_source_serves_the_files_rows_as_strings(tmp_path):
    rows = generate(1000, seed=1)
    path = tmp_path / "covertype.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    source = csv_source(path)
    assert source.size == 1000 and source.sample_size == 10
    assert source.part_for_group(6) == rows[600:700]
    config = load_config({"COVERTYPE_CSV": str(path), "STATE_DIR": str(tmp_path)})
    body = TestClient(create_app(config)).get("/data", params={"group_number": 6}).json()
    assert len(body["data"]) == 10 and all(row in rows[600:700] for row in body["data"])


@pytest.mark.parametrize(
    "env, names",
    [
        ({"COVERTYPE_CSV": "/nonexistent.csv"}, "COVERTYPE_CSV"),
        ({"DATA_API_BATCH_PERIOD": "soon"}, "DATA_API_BATCH_PERIOD"),
        ({"DATA_API_ROWS": "5"}, "DATA_API_ROWS"),
    ],
)
def test_bad_settings_name_the_variable(tmp_path, env, names):
    with pytest.raises(ConfigError, match=names):
        load_config({"STATE_DIR": str(tmp_path), **env})


def test_csv_with_a_wrong_row_is_refused(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(",".join(row) for row in generate(200, seed=1)) + "\n1,2,3\n")
    with pytest.raises(ConfigError, match="row 201 has 3 columns"):
        csv_source(path)
