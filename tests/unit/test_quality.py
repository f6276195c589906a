"""Batch data quality: flags what drifted and names it, leaves a like batch alone, and its
figures equal a plain computation of the same statistics on the same rows."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from infra.data_api.synthetic import generate
from shared import quality
from shared.schema import CATEGORICAL_FEATURES, COLUMNS, LABEL, NUMERIC_FEATURES
from tests.quality_support import LABEL_AT, shifted

ROWS = 5810  # a Data API batch
THRESHOLDS = {"psi": 0.2, "js": 0.1}


@pytest.fixture(scope="module")
def earlier() -> list[list[str]]:
    return [row for seed in (1, 2, 3) for row in generate(ROWS, seed=seed)]


def report_of(batch_rows, earlier_rows, champion_rows=None) -> dict:
    references = [quality.Reference("earlier", (1, 2, 3), quality.typed(earlier_rows)[0])]
    if champion_rows is not None:
        references.append(quality.Reference("champion", (1, 2), quality.typed(champion_rows)[0], version="1"))
    return quality.report(6, 4, batch_rows, references, THRESHOLDS)


def test_a_like_batch_is_not_flagged(earlier):
    body = report_of(generate(ROWS, seed=4), earlier, earlier[:2 * ROWS])
    assert body["flagged"] is False and body["flagged_features"] == []
    assert set(body["drift"]) == {"earlier", "champion"}
    for comparison in body["drift"].values():
        assert comparison["flagged_features"] == []
        assert set(comparison["values"]) == set(NUMERIC_FEATURES + CATEGORICAL_FEATURES + (LABEL,))


def test_shifted_elevation_and_swapped_classes_are_flagged_by_name(earlier):
    body = report_of(shifted(generate(ROWS, seed=4)), earlier, earlier[:2 * ROWS])
    assert body["flagged"] is True
    assert body["flagged_features"] == ["Elevation", LABEL]
    for name in ("earlier", "champion"):
        comparison = body["drift"][name]
        assert comparison["flagged_features"] == ["Elevation", LABEL]
        assert comparison["values"]["Elevation"] > THRESHOLDS["psi"]
        assert comparison["values"][LABEL] > THRESHOLDS["js"]


def test_without_earlier_batches_nothing_is_compared():
    body = quality.report(6, 1, generate(500, seed=1), [quality.Reference("earlier", (), None),
                                                        quality.Reference("champion", (), None, note="no champion yet")],
                          THRESHOLDS)
    assert body["flagged"] is False and body["rows_repeated_earlier"] == 0
    assert body["drift"]["champion"]["note"] == "no champion yet"
    assert "values" not in body["drift"]["earlier"]


# --- the statistics on small inputs ---------------------------------------------------------
def test_psi_is_zero_for_the_same_values_and_large_for_disjoint_ones():
    values = np.arange(100, dtype=float)
    assert quality.psi(values, values.copy()) == 0
    assert quality.psi(values, values + 1000) > 5  # every value beyond the top bin


def test_an_empty_bin_counts_as_a_small_share_so_psi_stays_finite():
    shares = quality.bin_shares(np.array([1.0, 1.0]), inner_edges=np.array([0.5, 2.0]))
    assert shares.tolist() == [quality.SHARE_FLOOR, 1.0, quality.SHARE_FLOOR]
    assert math.isfinite(quality.psi(np.array([1.0, 2.0, 3.0]), np.array([3.0, 3.0, 3.0])))


@pytest.mark.parametrize(("reference", "current", "distance"), [
    (["a", "b"], ["b", "a"], 0.0),
    (["a", "a"], ["b", "b"], 1.0),  # nothing in common: the largest base-2 distance
    # against the mixture (3/4, 1/4): KL of (1/2, 1/2) and of (1, 0), averaged, square-rooted
    (["a", "b"], ["a", "a"], math.sqrt((0.5 * math.log2(2 / 3) + 0.5 + math.log2(4 / 3)) / 2)),
])
def test_js_distance_of_categories(reference, current, distance):
    assert quality.js_distance(pd.Series(reference), pd.Series(current)) == pytest.approx(distance, abs=1e-12)


def test_drift_compares_each_column_on_its_valid_values_only():
    reference = quality.typed(generate(300, seed=1))[0]
    current = reference.copy()
    current["Slope"] = np.nan  # a column with no valid value is left out, not reported as 0
    values = quality.drift(reference, current)
    assert "Slope" not in values and set(values) == set(quality.DRIFTED) - {"Slope"}
    assert all(value == 0 for value in values.values())


def test_flagged_columns_pass_their_own_kind_of_threshold():
    values = {"Elevation": 0.15, "Soil_Type": 0.15, LABEL: 0.05}
    assert quality.passing(values, THRESHOLDS) == ["Soil_Type"]  # 0.15 is under PSI's 0.2, over JS's 0.1


def test_class_shares_skip_missing_labels():
    assert quality.class_shares(pd.Series([1, 2, 2, None, 7])) == {"1": 0.25, "2": 0.5, "7": 0.25}


def test_a_training_summary_lists_flagged_batches_in_order():
    reports = {10: {"flagged": True, "flagged_features": ["Elevation"]}, 2: {"flagged": False, "flagged_features": []}}
    summary = quality.training_summary(reports)
    assert summary["flagged_batches"] == {"10": ["Elevation"]}
    assert list(summary["reports"]) == ["2", "10"]


# --- the same figures, computed plainly ------------------------------------------------------
def plain_psi(reference: list[float], current: list[float]) -> float:
    ordered = sorted(reference)
    edges = sorted(set(float(np.percentile(ordered, 10 * k)) for k in range(1, 10)))

    def shares(values):
        counts = [0] * (len(edges) + 1)
        for value in values:
            counts[sum(1 for edge in edges if value > edge)] += 1
        return [max(count / len(values), 1e-4) for count in counts]

    return sum((a - e) * math.log(a / e) for a, e in zip(shares(current), shares(reference), strict=True))


def plain_js(reference: list[str], current: list[str]) -> float:
    ref, cur = Counter(reference), Counter(current)
    keys = set(ref) | set(cur)
    p = {k: ref[k] / len(reference) for k in keys}
    q = {k: cur[k] / len(current) for k in keys}
    m = {k: (p[k] + q[k]) / 2 for k in keys}

    def kl(a):
        return sum(a[k] * math.log2(a[k] / m[k]) for k in keys if a[k] > 0)

    return math.sqrt((kl(p) + kl(q)) / 2)


def test_figures_equal_a_plain_computation(earlier):
    batch = shifted(generate(2000, seed=9))
    batch += batch[:40] + earlier[:25]  # 40 repeated within the batch, 25 (+ none by chance) seen before
    batch.append(["", "abc", *batch[0][2:10], "Nowhere", batch[0][11], batch[0][12]])  # missing and invalid values
    body = report_of(batch, earlier)

    assert body["rows"] == len(batch)
    keys = [tuple(row) for row in batch]
    assert body["rows_repeated_within"] == len(keys) - len(set(keys))
    seen = {tuple(row) for row in earlier}
    assert body["rows_repeated_earlier"] == sum(key in seen for key in keys)
    labels = Counter(int(row[LABEL_AT]) for row in batch)
    assert body["class_shares"] == {str(k): pytest.approx(v / len(batch), abs=1e-6) for k, v in labels.items()}

    columns = body["columns"]
    assert columns["Elevation"]["missing"] == 1 and columns["Aspect"]["invalid"] == 1
    assert columns["Wilderness_Area"]["invalid"] == 1 and columns["Slope"] == {
        "missing": 0, "invalid": 0, "min": min(int(r[2]) for r in batch), "max": max(int(r[2]) for r in batch)}

    values = body["drift"]["earlier"]["values"]
    for column in NUMERIC_FEATURES:
        i = COLUMNS.index(column)
        current = [float(row[i]) for row in batch if row[i].lstrip("-").isdigit()]
        assert values[column] == pytest.approx(plain_psi([float(r[i]) for r in earlier], current), abs=2e-6), column
    for column in (*CATEGORICAL_FEATURES, LABEL):
        i = COLUMNS.index(column)
        known = {row[i] for row in earlier} if column == LABEL else set(quality.CATEGORIES[column])
        current = [row[i] for row in batch if row[i] in known or column == LABEL]
        reference = [row[i] for row in earlier]
        assert values[column] == pytest.approx(plain_js(reference, current), abs=2e-6), column
