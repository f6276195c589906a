"""Turn a predict request body into validated feature columns, or say exactly what is wrong.

Accepted bodies: one record object, `{"instances": [records...]}` (or a bare list of
records), or CSV with a header row (`Content-Type: text/csv`). Records are keyed by
column name; numbers may arrive as strings, as the Data API sends them, but only in
ASCII decimal notation (`"12.5"`, `"-3e2"`: no `"1_000"`, no Arabic-Indic or full-width
digits, no spaces, although Python's float() takes all of those); a category must be one
of the codes exactly (no surrounding spaces of any kind). Every offending field of every
row is counted, and the first `shared.errors.MAX_DETAILS` of them are listed as
`{"row", "field", "error"}` details.
"""

from __future__ import annotations

import csv
import io
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.errors import BadRequest, InvalidInput, PayloadTooLarge
from shared.http import parse_json
from shared.schema import CATEGORIES, FEATURES, NUMERIC_RANGES

FEATURE_SET = frozenset(FEATURES)
CATEGORY_SETS = {name: frozenset(values) for name, values in CATEGORIES.items()}
STR_ONLY = frozenset((str,))
DICT_ONLY = frozenset((dict,))
FEATURE_COUNT = frozenset((len(FEATURES),))
ROW_VALUES = operator.itemgetter(*FEATURES)  # a record's values in FEATURES order
NUMBER_TYPES = frozenset((int, float, str))  # exact types: bool is rejected on the slow path
# str.translate table deleting the characters of decimal notation: what is left is not allowed
DECIMAL_CHARS = str.maketrans("", "", "0123456789+-.eE")


@dataclass(frozen=True)
class Rows:
    """Validated input, column-wise (what a DataFrame is built from), plus its row count.

    A numeric column is a float64 array or a list of floats; a categorical one a list of str.
    """

    columns: dict[str, Sequence]
    count: int


def parse_body(body: bytes | str | None, content_type: str, max_rows: int, max_bytes: int) -> Rows:
    raw = body.encode() if isinstance(body, str) else (body or b"")
    if len(raw) > max_bytes:
        raise PayloadTooLarge(
            f"request body is {len(raw)} bytes, over the limit of {max_bytes} (PREDICT_MAX_BODY_BYTES); "
            "split the batch", details=[{"field": "body", "error": f"over {max_bytes} bytes"}],
        )
    if not raw.strip():
        raise BadRequest("empty request body: send a JSON record, {\"instances\": [...]} or CSV",
                         details=[{"field": "body", "error": "empty"}])
    if content_type.split(";")[0].strip().lower() in ("text/csv", "application/csv"):
        records = _csv_records(raw)
    else:
        records = _json_records(raw, max_bytes)
    if not records:
        raise BadRequest("no records to score", details=[{"field": "instances", "error": "empty list"}])
    if len(records) > max_rows:
        raise PayloadTooLarge(
            f"{len(records)} rows is over the limit of {max_rows} per request (PREDICT_MAX_ROWS); split the batch",
            details=[{"field": "instances", "error": f"over {max_rows} rows"}],
        )
    return validate_records(records)


def _json_records(raw: bytes, max_bytes: int) -> list:
    payload = parse_json(raw, max_bytes=max_bytes)
    if isinstance(payload, dict) and "instances" in payload:
        extra = sorted(key for key in payload if key != "instances")
        if extra:
            raise BadRequest("unexpected keys beside instances",
                             details=[{"field": key, "error": "unexpected key"} for key in extra])
        payload = payload["instances"]
        if not isinstance(payload, list):
            raise BadRequest("instances must be a list of records",
                             details=[{"field": "instances", "error": "not a list"}])
    elif isinstance(payload, dict):
        return [payload]
    if not isinstance(payload, list):
        raise BadRequest("send a JSON record object or {\"instances\": [records...]}",
                         details=[{"field": "body", "error": f"a JSON {type(payload).__name__}, not an object"}])
    return payload


def _csv_records(raw: bytes) -> list:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("CSV body is not UTF-8", details=[{"field": "body", "error": "not UTF-8"}]) from None
    try:
        reader = csv.reader(io.StringIO(text))
        header = [name.strip() for name in next(reader, [])]
        rows = [row for row in reader if row]
    except csv.Error as exc:
        raise BadRequest(f"malformed CSV: {exc}", details=[{"field": "body", "error": "malformed CSV"}]) from None
    problems = [{"field": name, "error": "missing column"} for name in FEATURES if name not in header]
    problems += [{"field": name or "(blank)", "error": "unknown column"} for name in header if name not in FEATURE_SET]
    if len(set(header)) != len(header):
        problems.append({"field": "header", "error": "a column is repeated"})
    if problems:
        raise InvalidInput("the CSV header must name exactly the feature columns", details=problems)
    width = len(header)
    bad_width = [
        {"row": index, "field": "row", "error": f"{len(row)} cells, header has {width}"}
        for index, row in enumerate(rows) if len(row) != width
    ]
    if bad_width:
        raise InvalidInput(f"CSV rows must have one cell per header column ({len(bad_width)} do not)",
                           details=bad_width)
    return [dict(zip(header, row, strict=True)) for row in rows]


def validate_records(records: list) -> Rows:
    """Columns of validated values; raises InvalidInput listing every bad field of every row."""
    columns = _fast_columns(records)
    if columns is not None:
        return Rows(columns=columns, count=len(records))
    columns = {name: [] for name in FEATURES}
    problems: list[dict] = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            problems.append({"row": index, "field": "record", "error": "not an object keyed by column name"})
            continue
        _check_record(index, record, columns, problems)
    if problems:
        raise InvalidInput(f"{len(problems)} invalid value(s)", details=problems)
    return Rows(columns=columns, count=len(records))


def _fast_columns(records: list) -> dict[str, Sequence] | None:
    """Whole-column checks for the common all-valid case; None sends the caller to the per-value path.

    Every loop over the rows is a C one (map, zip, set): a 1,000-row body took 2.4 ms here
    with list comprehensions, 1.2 ms like this (in-process, the column checks alone).
    """
    if set(map(type, records)) != DICT_ONLY or set(map(len, records)) != FEATURE_COUNT:
        return None
    try:
        # a record of len(FEATURES) keys that has every feature has exactly the features
        table = zip(*map(ROW_VALUES, records), strict=True)
    except KeyError:
        return None
    columns: dict[str, Sequence] = {}
    for name, values in zip(FEATURES, table, strict=True):
        kinds = set(map(type, values))
        allowed = CATEGORY_SETS.get(name)
        if allowed is not None:
            if kinds != STR_ONLY or not allowed.issuperset(values):
                return None
            columns[name] = list(values)
            continue
        if not NUMBER_TYPES.issuperset(kinds):
            return None
        if str in kinds and not decimal_text("".join(value for value in values if type(value) is str)):
            return None  # one check for the whole column
        try:
            numbers = np.asarray(values, dtype=np.float64)
        except ValueError:
            return None
        low, high = NUMERIC_RANGES[name]
        if not ((numbers >= low) & (numbers <= high)).all():  # also False for NaN
            return None
        columns[name] = numbers
    return columns


def _check_record(index: int, record: dict, columns: dict[str, list], problems: list[dict]) -> None:
    for name in FEATURES:
        if name not in record:
            problems.append({"row": index, "field": name, "error": "missing"})
            continue
        value = record[name]
        allowed = CATEGORIES.get(name)
        result = _category(value, allowed) if allowed else _number(value, NUMERIC_RANGES[name])
        if isinstance(result, _Problem):
            problems.append({"row": index, "field": name, "error": result.message})
        else:
            columns[name].append(result)
    if len(record) > len(FEATURES) or any(key not in FEATURE_SET for key in record):
        for key in record:
            if key not in FEATURE_SET:
                problems.append({"row": index, "field": str(key) or "(empty name)", "error": "unknown field"})


@dataclass(frozen=True)
class _Problem:
    message: str


def _number(value: object, bounds: tuple[int, int]) -> float | _Problem:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return _Problem(f"expected a number, got {_kind(value)}")
    if isinstance(value, str):
        text, value = value, _decimal(value)
        if value is None:
            return _Problem(f"expected an ASCII decimal number, got {text[:40]!r}")
    number = float(value)
    if not math.isfinite(number):
        return _Problem("must be a finite number (no NaN or infinity)")
    low, high = bounds
    if not low <= number <= high:
        return _Problem(f"{value} is out of range {low}..{high}")
    return number


def _category(value: object, allowed: tuple[str, ...]) -> str | _Problem:
    if not isinstance(value, str):
        return _Problem(f"expected one of the category names, got {_kind(value)}")
    if value not in allowed:
        examples = ", ".join(allowed[:4]) + (", ..." if len(allowed) > 4 else "")
        return _Problem(f"unknown category {value[:40]!r}; expected one of {len(allowed)} codes exactly: {examples}")
    return value


def _decimal(text: str) -> float | None:
    if not decimal_text(text):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def decimal_text(text: str) -> bool:
    """Only the characters of ASCII decimal notation (float() then checks the grammar)."""
    return text.isascii() and not text.translate(DECIMAL_CHARS)


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__
