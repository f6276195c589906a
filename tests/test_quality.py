"""Batch data quality with real services: reports kept in MinIO, logged with the training, recomputable.
The statistics themselves are tested in tests/unit/test_quality.py."""

from __future__ import annotations

import pytest

from infra.data_api.synthetic import generate
from shared import quality
from shared.schema import CATEGORICAL_FEATURES, LABEL, NUMERIC_FEATURES
from tests.quality_support import shifted


@pytest.mark.services
def test_reports_are_kept_logged_with_the_training_and_recomputable(stack_env, monkeypatch):
    import json

    import mlflow
    from mlflow import MlflowClient

    from shared import storage
    from shared.batches import store_batch
    from tests.train_support import call, isolate, load_handler, minio_event_body

    settings = isolate(monkeypatch, "quality")
    group, rows = settings.group_number, 2000
    for number in range(1, 11):
        batch = generate(rows, seed=500 + number)
        store_batch(settings, group, number, shifted(batch) if number == 10 else batch, "test://synthetic")
        stored = quality.compute_and_store(settings, group, number)  # what fetch-batch does
        assert stored["flagged"] is (number == 10), (number, stored["flagged_features"])
    assert quality.load(settings, group, 10)["flagged_features"] == ["Elevation", LABEL]
    storage.remove(settings, settings.batch_bucket, quality.quality_key(group, 3))

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
