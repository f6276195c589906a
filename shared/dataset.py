"""Data API rows (13 strings each) -> validated, typed values.

`frame_from_rows(rows)` is the one entry point: it checks every row and field, and
either returns a DataFrame (numeric features int64, categorical features str, label
int64, columns in `schema.COLUMNS` order) or raises BadRequest listing the offending
rows and fields. Callers for whom the rows come from upstream re-raise it as theirs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from shared.errors import BadRequest
from shared.schema import CATEGORIES, COLUMNS, NUMERIC_RANGES

MAX_LISTED = 20  # problems listed in an error's details; the message gives the totals
INTEGER = re.compile(r"[-+]?\d+")


def frame_from_rows(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """A typed DataFrame of the rows, or BadRequest naming every offending row and field."""
    problems = shape_problems(rows)
    well_formed = [index for index, row in enumerate(rows) if is_row(row)] if isinstance(rows, (list, tuple)) else []
    raw = pd.DataFrame([list(rows[index]) for index in well_formed], index=well_formed, columns=list(COLUMNS), dtype=object)
    frame, value_issues = parse_columns(raw)
    problems += value_issues
    if problems:
        raise invalid(problems, len(rows) if isinstance(rows, (list, tuple)) else 0)
    return frame.reset_index(drop=True)


def validate_rows(rows: Sequence[Sequence[Any]]) -> list[dict]:
    """Every problem found in the rows (empty when they are all valid)."""
    try:
        frame_from_rows(rows)
    except BadRequest as exc:
        return exc.details
    return []


def shape_problems(rows: Any) -> list[dict]:
    if not isinstance(rows, (list, tuple)):
        return [{"field": "data", "error": f"expected a list of rows, got {type(rows).__name__}"}]
    if not rows:
        return [{"field": "data", "error": "no rows"}]
    return [
        {"row": index, "field": "data", "error": f"expected a list of {len(COLUMNS)} values, got {describe(row)}"}
        for index, row in enumerate(rows)
        if not isinstance(row, (list, tuple)) or len(row) != len(COLUMNS)
    ]


def describe(row: Any) -> str:
    if isinstance(row, (list, tuple)):
        return f"{len(row)} values"
    return type(row).__name__


def is_row(row: Any) -> bool:
    return isinstance(row, (list, tuple)) and len(row) == len(COLUMNS)


def parse_columns(raw: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    frame = pd.DataFrame(index=raw.index)
    problems: list[dict] = []
    for column in COLUMNS:
        if column in CATEGORIES:
            known = raw[column].isin(CATEGORIES[column])
            problems += listed(raw[column][~known], column, f"not a known {column}")
            frame[column] = raw[column].astype("str")
        else:
            low, high = NUMERIC_RANGES.get(column, (0, None))
            frame[column], issues = parse_integers(raw[column], column, low, high)
            problems += issues
    problems.sort(key=lambda problem: (problem["row"], COLUMNS.index(problem["field"])))
    return frame, problems


def parse_integers(values: pd.Series, column: str, low: int, high: int | None) -> tuple[pd.Series, list[dict]]:
    """The column as int64 (0 where a value is bad), and its problems."""
    texts = values.tolist()
    is_integer = pd.Series(True, index=values.index, dtype=bool)
    try:  # fast path: every value an integer string, parsed in C
        if not all(type(text) is str for text in texts):
            raise ValueError("a value is not a string")
        parsed = np.array(texts, dtype=str).astype(np.int64)
    except ValueError:
        is_integer[:] = [isinstance(text, str) and INTEGER.fullmatch(text) is not None for text in texts]
        parsed = np.array([int(text) if ok else 0 for text, ok in zip(texts, is_integer, strict=True)], dtype=np.int64)
    problems = listed(values[~is_integer], column, "not an integer string")
    numbers = pd.Series(parsed, index=values.index, dtype="int64")
    out_of_range = is_integer & ((numbers < low) if high is None else (numbers < low) | (numbers > high))
    bounds = f">= {low}" if high is None else f"in {low}..{high}"
    return numbers, problems + listed(values[out_of_range], column, f"out of range (expected {bounds})")


def listed(bad: pd.Series, column: str, problem: str) -> list[dict]:
    return [{"row": int(index), "field": column, "value": value, "error": problem} for index, value in bad.items()]


def invalid(problems: list[dict], rows: int) -> BadRequest:
    offending_rows = len({problem.get("row") for problem in problems})
    fields = sorted({problem["field"] for problem in problems}, key=lambda f: COLUMNS.index(f) if f in COLUMNS else -1)
    shown = f" (first {MAX_LISTED} listed)" if len(problems) > MAX_LISTED else ""
    first = problems[0]
    where = f"row {first['row']} " if "row" in first else ""
    value = f" {first['value']!r}" if "value" in first else ""
    return BadRequest(
        f"{len(problems)} invalid values in {offending_rows} of {rows} rows, fields: {', '.join(fields)}{shown}; "
        f"first: {where}{first['field']}{value}: {first['error']}",
        details=problems[:MAX_LISTED],
    )
