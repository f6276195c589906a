"""Where the stand-in's rows come from: the course's CSV, or the synthetic generator.

Either way the dataset is a sequence of 13-string rows cut into ten equal parts; the
real API samples a group's batches from part `group` (its start index is the group
number times a tenth), so every batch of a group comes from the same part.
"""

from __future__ import annotations

import csv
import threading
from pathlib import Path

from infra.data_api import synthetic
from shared.errors import ConfigError
from shared.schema import COLUMNS


class DataSource:
    def __init__(self, size: int, load_part):
        self.size = size
        self.part_size = size // 10
        self.sample_size = self.part_size // 10
        self._load_part = load_part
        self._parts: dict[int, list[list[str]]] = {}
        self._lock = threading.Lock()

    def part(self, index: int) -> list[list[str]]:
        with self._lock:
            if index not in self._parts:
                self._parts[index] = self._load_part(index)
            return self._parts[index]

    def part_for_group(self, group: int) -> list[list[str]]:
        # group 10 would start past the last full tenth; wrap it to the first
        return self.part(group % 10)


def synthetic_source(rows: int, seed: int) -> DataSource:
    part_size = rows // 10
    # each tenth is its own seeded draw, so a group's data is made only when first asked
    return DataSource(rows, lambda index: synthetic.generate(part_size, seed * 100 + index))


def csv_source(path: Path) -> DataSource:
    rows = read_course_csv(path)
    part_size = len(rows) // 10
    if part_size < 10:
        raise ConfigError(f"COVERTYPE_CSV={path} has {len(rows)} rows: the Data API needs at least 100")
    return DataSource(len(rows), lambda index: rows[index * part_size:(index + 1) * part_size])


def read_course_csv(path: Path) -> list[list[str]]:
    """Rows of a 13-column CSV as strings (a header row, if any, is skipped)."""
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    if rows and rows[0][0].strip() == COLUMNS[0]:
        rows = rows[1:]
    for number, row in enumerate(rows, start=1):
        if len(row) != len(COLUMNS):
            raise ConfigError(f"COVERTYPE_CSV={path}: data row {number} has {len(row)} columns, expected {len(COLUMNS)}")
    return [[value.strip() for value in row] for row in rows]
