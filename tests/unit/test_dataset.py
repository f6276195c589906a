"""Data API rows -> typed frame: valid rows, and every kind of offending value named."""

from __future__ import annotations

import pytest

from shared.dataset import MAX_LISTED, frame_from_rows, validate_rows
from shared.errors import BadRequest
from shared.schema import COLUMNS

# data-api.md's example row shows C7744, which is not one of the 40 ELU codes; C7745 is
GOOD = ["2596", "51", "3", "258", "0", "510", "221", "232", "148", "6279", "Rawah", "C7745", "1"]
GOOD_2 = ["3390", "340", "25", "0", "-12", "1200", "180", "220", "170", "900", "Neota", "C8771", "7"]


def with_value(column: str, value) -> list:
    row = list(GOOD)
    row[COLUMNS.index(column)] = value
    return row


def test_typed_frame():
    frame = frame_from_rows([GOOD, GOOD_2])
    assert list(frame.columns) == list(COLUMNS)
    assert frame["Elevation"].tolist() == [2596, 3390]
    assert frame["Vertical_Distance_To_Hydrology"].tolist() == [0, -12]
    assert frame["Wilderness_Area"].tolist() == ["Rawah", "Neota"]
    assert frame["Cover_Type"].tolist() == [1, 7]
    for column in COLUMNS:
        expected = "str" if column in ("Wilderness_Area", "Soil_Type") else "int64"
        assert str(frame[column].dtype) == expected, column


def test_label_domain_is_data_not_a_constant():
    assert frame_from_rows([with_value("Cover_Type", "0"), with_value("Cover_Type", "9")])["Cover_Type"].tolist() == [0, 9]


@pytest.mark.parametrize(
    "column, value, problem",
    [
        ("Elevation", "abc", "not an integer string"),
        ("Elevation", "2596.5", "not an integer string"),
        ("Elevation", "", "not an integer string"),
        ("Elevation", 2596, "not an integer string"),
        ("Elevation", None, "not an integer string"),
        ("Elevation", "99999", "out of range"),
        ("Aspect", "361", "out of range"),
        ("Hillshade_9am", "-1", "out of range"),
        ("Hillshade_3pm", "256", "out of range"),
        ("Wilderness_Area", "Nowhere", "not a known Wilderness_Area"),
        ("Wilderness_Area", "rawah", "not a known Wilderness_Area"),
        ("Soil_Type", "C9999", "not a known Soil_Type"),
        ("Soil_Type", 7744, "not a known Soil_Type"),
        ("Cover_Type", "", "not an integer string"),
        ("Cover_Type", "Spruce", "not an integer string"),
        ("Cover_Type", "-1", "out of range"),
    ],
)
def test_each_bad_value_is_named(column, value, problem):
    with pytest.raises(BadRequest) as caught:
        frame_from_rows([GOOD, with_value(column, value)])
    [detail] = caught.value.details
    assert detail["row"] == 1 and detail["field"] == column and detail["value"] == value
    assert detail["error"].startswith(problem)
    assert column in caught.value.message


@pytest.mark.parametrize(
    "rows, problem",
    [
        ([], "no rows"),
        ("rows", "expected a list of rows"),
        (None, "expected a list of rows"),
        ([GOOD[:12]], "expected a list of 13 values, got 12 values"),
        ([GOOD + ["x"]], "got 14 values"),
        (["2596,51"], "got str"),
        ([None], "got NoneType"),
    ],
)
def test_wrong_shapes_are_named(rows, problem):
    problems = validate_rows(rows)
    assert len(problems) == 1 and problems[0]["field"] == "data" and problem in problems[0]["error"]


def test_every_offending_row_and_field_is_collected():
    rows = [GOOD, with_value("Elevation", "x"), GOOD[:3], with_value("Soil_Type", "C1"), GOOD_2]
    rows[4] = list(GOOD_2)
    rows[4][0], rows[4][12] = "1", "y"
    found = [(p.get("row"), p["field"]) for p in validate_rows(rows)]
    assert sorted(found, key=str) == sorted(
        [(1, "Elevation"), (2, "data"), (3, "Soil_Type"), (4, "Elevation"), (4, "Cover_Type")], key=str
    )


def test_many_problems_are_counted_but_listed_briefly():
    rows = [with_value("Aspect", "999")] * 500
    with pytest.raises(BadRequest) as caught:
        frame_from_rows(rows)
    assert len(caught.value.details) == MAX_LISTED
    assert "500 invalid values in 500 of 500 rows" in caught.value.message
