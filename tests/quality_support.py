"""Helpers for the data-quality tests: a batch that drifted in a known way."""

from __future__ import annotations

from shared.schema import COLUMNS, LABEL

ELEVATION = COLUMNS.index("Elevation")
LABEL_AT = COLUMNS.index(LABEL)


def shifted(rows: list[list[str]]) -> list[list[str]]:
    """Elevation 300 m higher, and the two commonest classes (1 and 2) swapped."""
    swap = {"1": "2", "2": "1"}
    out = []
    for row in rows:
        row = list(row)
        row[ELEVATION] = str(min(int(row[ELEVATION]) + 300, 4500))
        row[LABEL_AT] = swap.get(row[LABEL_AT], row[LABEL_AT])
        out.append(row)
    return out
