"""Predict's request handling without services: a real pipeline, a fixed champion; every answer a 200 or a 4xx."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from shared.champion import champion_of
from shared.predict_service import PredictService
from shared.registry import VersionInfo
from shared.schema import CATEGORIES, FEATURES, NUMERIC_RANGES
from shared.settings import load_settings
from tests.predict_support import FixedHolder, build_pipeline, sample_records

MAX_ROWS = 40
MAX_BYTES = 16_000


@pytest.fixture(scope="module")
def pipeline():
    return build_pipeline("logistic_regression", seed=3, rows=600)


@pytest.fixture(scope="module")
def service(pipeline):
    info = VersionInfo("unit-model", "7", "run-1", "models:/m-1", {"family": "logistic_regression"})
    env = {"PREDICT_MAX_ROWS": str(MAX_ROWS), "PREDICT_MAX_BODY_BYTES": str(MAX_BYTES)}
    return PredictService(load_settings(env), holder=FixedHolder(champion_of(info, pipeline)))


def event(method="POST", body=b"", content_type="application/json"):
    return SimpleNamespace(method=method, body=body, headers={"Content-Type": content_type}, path="/", query={})


def call(service, body, content_type="application/json", method="POST"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = service.handle(event(method, raw, content_type))
    payload = response["body"]
    return response["statusCode"], json.loads(payload) if isinstance(payload, bytes) else payload


def good_record(**changes):
    record = sample_records(1, seed=11)[0]
    record.update(changes)
    return record


def test_one_record_scores_like_the_pipeline(service, pipeline):
    import pandas as pd

    record = good_record()
    status, body = call(service, record)
    assert status == 200
    expected = pipeline.predict(pd.DataFrame([record], columns=list(FEATURES)))[0]
    prediction = body["predictions"][0]
    assert prediction["cover_type"] == expected
    assert set(prediction) == {"cover_type", "label", "probabilities"}
    assert math.isclose(sum(prediction["probabilities"].values()), 1, abs_tol=1e-4)
    assert body["model"] == {"name": "unit-model", "version": "7", "run_id": "run-1", "family": "logistic_regression"}


def test_instances_strings_and_csv_give_the_same_answers(service):
    records = sample_records(5, seed=4)
    as_strings = [{k: str(v) for k, v in r.items()} for r in records]
    csv_body = (",".join(FEATURES) + "\n" + "\n".join(",".join(str(r[c]) for c in FEATURES) for r in records)).encode()
    answers = [
        call(service, {"instances": records}),
        call(service, {"instances": as_strings}),
        call(service, csv_body, "text/csv; charset=utf-8"),
    ]
    assert [status for status, _ in answers] == [200, 200, 200]
    assert answers[0][1]["predictions"] == answers[1][1]["predictions"] == answers[2][1]["predictions"]


def test_get_describes_the_champion_and_other_methods_are_refused(service):
    assert call(service, b"", method="GET") == (200, {**service.holder.status()})
    status, body = call(service, b"", method="DELETE")
    assert status == 405 and body["details"][0]["field"] == "method"


@pytest.mark.parametrize(
    "body, status, field",
    [
        (b"{not json", 400, "body"),
        (b"", 400, "body"),
        (b"42", 400, "body"),
        ({"instances": []}, 400, "instances"),
        ({"instances": {"a": 1}}, 400, "instances"),
        ({"instances": [], "extra": 1}, 400, "extra"),
        ({"instances": [good_record()] * (MAX_ROWS + 1)}, 413, "instances"),
        ({"instances": [good_record()] * 200}, 413, "body"),
        ({"instances": [7]}, 422, "record"),
        (good_record(Elevation="high"), 422, "Elevation"),
        (good_record(Elevation=None), 422, "Elevation"),
        (good_record(Elevation=True), 422, "Elevation"),
        (good_record(Elevation=[1]), 422, "Elevation"),
        (good_record(Elevation="NaN"), 422, "Elevation"),
        (good_record(Elevation="-inf"), 422, "Elevation"),
        (good_record(Elevation=1e300), 422, "Elevation"),
        (good_record(Slope=-1), 422, "Slope"),
        (good_record(Hillshade_9am="256"), 422, "Hillshade_9am"),
        (good_record(Soil_Type="C9999"), 422, "Soil_Type"),
        (good_record(Wilderness_Area=3), 422, "Wilderness_Area"),
        (good_record(Colour="green"), 422, "Colour"),
        ({k: v for k, v in good_record().items() if k != "Aspect"}, 422, "Aspect"),
        (b"Elevation,Aspect\n1,2\n", 422, "Slope"),
        (("," .join(FEATURES) + "\n1,2\n").encode(), 422, "row"),
        (b"\xff\xfe", 400, "body"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(service, body, status, field):
    content_type = "text/csv" if isinstance(body, bytes) and body[:9] in (b"Elevation", b"\xff\xfe") else "application/json"
    got_status, got = call(service, body, content_type)
    assert got_status == status, got
    assert field in {detail["field"] for detail in got["details"]}


# --- property: whatever arrives, the answer is 200 or a 4xx that names a field -----------------------

def numeric_value(name):
    low, high = NUMERIC_RANGES[name]
    good = st.integers(low, high)
    return st.one_of(good, good.map(str), st.floats(low, high, allow_nan=False))


def any_value():
    return st.one_of(
        st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=8), st.sampled_from(["NaN", "inf", "-Infinity", "1e999", "", " 12 "]),
        st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )


good_records = st.fixed_dictionaries(
    {**{name: numeric_value(name) for name in NUMERIC_RANGES}, **{n: st.sampled_from(v) for n, v in CATEGORIES.items()}}
)


@st.composite
def damaged_record(draw):
    record = draw(good_records)
    action = draw(st.sampled_from(["drop", "extra", "value", "none"]))
    name = draw(st.sampled_from(FEATURES))
    if action == "drop":
        record.pop(name)
    elif action == "extra":
        record[draw(st.text(min_size=1, max_size=6))] = draw(any_value())
    elif action == "value":
        record[name] = draw(any_value())
    return record


def as_json(payload) -> bytes:
    return json.dumps(payload, allow_nan=True).encode()  # NaN/Infinity tokens are malformed JSON for us


requests_strategy = st.one_of(
    good_records.map(lambda r: (as_json(r), "application/json")),
    st.lists(good_records, min_size=1, max_size=5).map(lambda rs: (as_json({"instances": rs}), "application/json")),
    damaged_record().map(lambda r: (as_json(r), "application/json")),
    st.lists(st.one_of(damaged_record(), any_value()), max_size=6).map(
        lambda rs: (as_json({"instances": rs}), "application/json")),
    any_value().map(lambda v: (as_json(v), "application/json")),
    st.binary(max_size=40).map(lambda b: (b, "application/json")),
    st.lists(damaged_record(), min_size=1, max_size=4).map(
        lambda rs: ((",".join(FEATURES) + "\n" + "\n".join(",".join(str(r.get(c, "")) for c in FEATURES)
                                                           for r in rs)).encode(), "text/csv")),
    st.text(max_size=60).map(lambda t: (t.encode(), "text/csv")),
    st.integers(MAX_ROWS + 1, MAX_ROWS + 5).map(
        lambda n: (as_json({"instances": [good_record()] * n}), "application/json")),
)


@hypothesis_settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                     database=None)
@given(request=requests_strategy)
def test_property_no_5xx_and_every_4xx_names_a_field(service, request):
    body, content_type = request
    status, answer = call(service, body, content_type)
    assert status in (200, 400, 413, 422), answer
    if status == 200:
        assert answer["predictions"] and all(p["label"] for p in answer["predictions"])
    else:
        assert answer["details"] and all(detail.get("field") for detail in answer["details"]), answer
