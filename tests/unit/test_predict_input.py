"""Predict's input parsing and validation, called directly."""

from __future__ import annotations

import collections

import pytest

from shared.errors import InvalidInput, PayloadTooLarge
from shared.predict_input import parse_body, validate_records
from shared.schema import FEATURES
from tests.predict_support import sample_records


def test_every_bad_field_of_every_row_is_listed():
    records = sample_records(3, seed=11)
    records[0].update(Slope="x", Soil_Type="nope")
    records[2]["Aspect"] = 999
    with pytest.raises(InvalidInput) as caught:
        validate_records(records)
    found = {(d["row"], d["field"]) for d in caught.value.details}
    assert found == {(0, "Slope"), (0, "Soil_Type"), (2, "Aspect")}


def test_fast_and_careful_paths_agree():
    records = sample_records(20, seed=9)
    fast = validate_records(records)
    # a record that is not exactly a dict sends the whole batch down the per-value path
    careful = validate_records([*records[:-1], collections.OrderedDict(records[-1])])
    for name in FEATURES:
        assert list(fast.columns[name]) == list(careful.columns[name])


def test_row_limit_counts_csv_rows_too():
    header = ",".join(FEATURES)
    record = sample_records(1, seed=11)[0]
    row = ",".join(str(record[c]) for c in FEATURES)
    with pytest.raises(PayloadTooLarge):
        parse_body(f"{header}\n" + f"{row}\n" * 3, "text/csv", max_rows=2, max_bytes=10**6)


@pytest.mark.parametrize(("change", "field", "error"), [
    (lambda r: r.update(Elevation2=r.pop("Elevation")), "Elevation", "missing"),  # as many keys, one renamed
    (lambda r: r.update(extra=1), "extra", "unknown field"),
    (lambda r: r.update(Slope=True), "Slope", "expected a number, got bool"),
    (lambda r: r.update(Slope="1_0"), "Slope", "expected an ASCII decimal number"),
    (lambda r: r.update(Slope=float("nan")), "Slope", "must be a finite number"),
    (lambda r: r.update(Aspect=361), "Aspect", "out of range"),
    (lambda r: r.update(Soil_Type=3), "Soil_Type", "expected one of the category names"),
])
def test_one_bad_record_in_a_batch_is_named_whatever_the_fast_path_sees(change, field, error):
    records = sample_records(50, seed=3)
    change(records[37])
    with pytest.raises(InvalidInput) as caught:
        validate_records(records)
    [detail] = [d for d in caught.value.details if d["field"] == field]
    assert detail["row"] == 37 and error in detail["error"]


def test_numbers_sent_as_strings_take_the_fast_path_as_floats():
    records = [{name: str(value) for name, value in record.items()} for record in sample_records(30, seed=4)]
    columns = validate_records(records).columns
    assert columns["Elevation"].dtype.kind == "f"
    assert list(columns["Elevation"]) == [float(record["Elevation"]) for record in records]
