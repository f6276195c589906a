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
