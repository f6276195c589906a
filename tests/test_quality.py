"""Batch data quality: flags what drifted and names it, leaves a like batch alone, and its
figures equal a plain computation of the same statistics on the same rows."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from infra.data_api.synthetic import generate
from shared import quality
from shared.schema import CATEGORICAL_FEATURES, COLUMNS, LABEL, NUMERIC_FEATURES

ROWS = 5810  # a Data API batch
THRESHOLDS = {"psi": 0.2, "js": 0.1}
ELEVATION = COLUMNS.index("Elevation")
LABEL_AT = COLUMNS.index(LABEL)


@pytest.fixture(scope="module")
def earlier() -> list[list[str]]:
    return [row for seed in (1, 2, 3) for row in generate(ROWS, seed=seed)]


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


# --- in MinIO, and with a training (real MinIO, MLflow, MariaDB) -----------------------------
@pytest.mark.services
def test_reports_are_kept_logged_with_the_training_and_recomputable(stack_env, monkeypatch):
    import json

    import mlflow
    from mlflow import MlflowClient

    from shared.batches import store_batch
    from shared.health import minio_client
    from tests.train_support import call, isolate, load_handler, minio_event_body

    settings = isolate(monkeypatch, "quality")
    group, rows = settings.group_number, 2000
    for number in range(1, 11):
        batch = generate(rows, seed=500 + number)
        store_batch(settings, group, number, shifted(batch) if number == 10 else batch, "test://synthetic")
        stored = quality.compute_and_store(settings, group, number)  # what fetch-batch does
        assert stored["flagged"] is (number == 10), (number, stored["flagged_features"])
    assert quality.load(settings, group, 10)["flagged_features"] == ["Elevation", LABEL]
    minio_client(settings).remove_object(settings.batch_bucket, quality.quality_key(group, 3))

    status, body = call(load_handler(), settings, minio_event_body(settings, 10))
    assert (status, body["status"]) == (200, "trained"), body
    assert quality.load(settings, group, 3) is not None  # the training recomputed the missing one

    client = MlflowClient(settings.mlflow_tracking_uri)
    parent = client.get_run(body["parent_run_id"])
    assert parent.data.tags["data_quality.flagged_batches"] == "10: Elevation Cover_Type"
    logged = json.loads(open(mlflow.artifacts.download_artifacts(
        run_id=parent.info.run_id, artifact_path="data_quality.json")).read())
    assert logged["flagged_batches"] == {"10": ["Elevation", LABEL]} and set(logged["reports"]) == {
        str(n) for n in range(1, 11)}
    for candidate in body["candidates"]:  # permutation importance for every family
        run = client.get_run(candidate["run_id"])
        assert run.data.tags["data_quality.flagged_batches"] == "10: Elevation Cover_Type"
        importance = json.loads(open(mlflow.artifacts.download_artifacts(
            run_id=candidate["run_id"], artifact_path="permutation_importance.json")).read())
        assert set(importance) == set(NUMERIC_FEATURES + CATEGORICAL_FEATURES)
        assert max(v["mean"] for v in importance.values()) > 0.01, (candidate["family"], importance)
        assert importance["Elevation"]["mean"] > 0  # the synthetic classes follow elevation first

    again = {r["batch_number"]: r for r in quality.recompute(settings, group)}  # now against the champion too
    champion = again[10]["drift"]["champion"]
    assert champion["batches"] == list(range(1, 11)) and champion["version"] == body["decision"]["best_version"]
    assert again[10]["drift"]["earlier"]["flagged_features"] == ["Elevation", LABEL]
