"""Training without services: data preparation, the pipelines on raw rows, evaluation."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from infra.data_api.synthetic import generate
from shared import training
from shared.dataset import frame_from_rows
from shared.schema import FEATURES, LABEL
from shared.threads import single_threaded_math


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return frame_from_rows(generate(2000, seed=7))


@pytest.fixture(scope="module")
def prepared(frame) -> training.PreparedData:
    return training.prepare(frame)


def test_duplicates_are_dropped_before_the_split(frame):
    repeated = pd.concat([frame, frame.head(500), frame.head(200)], ignore_index=True)
    flipped = frame.head(50).assign(**{LABEL: frame.head(50)[LABEL] % 7 + 1})  # same features, other label
    data = training.prepare(pd.concat([repeated, flipped], ignore_index=True))
    assert data.rows_loaded == 2750 and data.rows_unique == 2000
    assert data.lineage()["rows_duplicate"] == 750
    assert data.rows_conflicting == 50
    seen = set(map(tuple, data.x_train.astype(str).to_numpy()))
    assert not any(tuple(row) in seen for row in data.x_holdout.astype(str).to_numpy())


def test_holdout_is_stratified_and_fixed_by_the_seed(frame, prepared):
    again = training.prepare(frame)
    assert again.x_holdout.index.equals(prepared.x_holdout.index)
    shares = frame[LABEL].value_counts(normalize=True)
    holdout_shares = prepared.y_holdout.value_counts(normalize=True)
    for label, share in shares.items():
        if share > 0.05:
            assert abs(holdout_shares[label] - share) < 0.02
    assert len(prepared.x_holdout) == pytest.approx(0.2 * len(frame), abs=2)


def test_label_domain_comes_from_the_data(frame):
    zero_based = frame.assign(**{LABEL: frame[LABEL] - 1})
    data = training.prepare(zero_based)
    assert data.labels == tuple(sorted(zero_based[LABEL].unique()))
    candidate = training.train_candidate("logistic_regression", data)
    assert set(candidate.evaluation.per_class) == set(data.labels)
    assert set(np.unique(candidate.pipeline.predict(data.x_holdout))) <= set(data.labels)


def test_a_class_seen_once_goes_to_training(frame):
    lonely = frame.head(1).assign(**{LABEL: 42})
    data = training.prepare(pd.concat([frame.iloc[1:], lonely], ignore_index=True))
    assert 42 in data.y_train.tolist() and 42 not in data.y_holdout.tolist()


def test_too_little_data_is_refused(frame):
    with pytest.raises(training.NotEnoughData):
        training.prepare(frame.head(10))
    with pytest.raises(training.NotEnoughData):
        training.prepare(frame.assign(**{LABEL: 1}))


@pytest.mark.parametrize("family", training.FAMILIES)
def test_each_family_predicts_raw_api_strings_after_pickling(family, prepared):
    candidate = training.train_candidate(family, prepared)
    assert candidate.evaluation.accuracy > 0.5
    restored = pickle.loads(pickle.dumps(candidate.pipeline))
    raw = training.as_api_strings(prepared.x_holdout.head(20))
    assert raw.map(type).eq(str).all().all()
    unseen = raw.assign(Soil_Type="C9999", Wilderness_Area="Nowhere")  # tolerated, not an error
    with single_threaded_math():
        assert len(restored.predict(unseen)) == 20
        assert (restored.predict(raw) == candidate.pipeline.predict(prepared.x_holdout.head(20))).all()


def test_evaluation_metrics_are_flat_and_per_class(prepared):
    evaluation = training.train_candidate("random_forest", prepared).evaluation
    metrics = evaluation.metrics()
    assert {"accuracy", "f1_weighted", "precision_weighted", "recall_weighted"} <= set(metrics)
    assert all(f"recall_class_{label}" in metrics for label in evaluation.labels)
    assert evaluation.confusion.sum() == len(prepared.x_holdout)
    assert "weighted avg" in evaluation.report


def test_features_are_the_schema():
    assert list(training.as_api_strings(pd.DataFrame([[1] * 12], columns=list(FEATURES))).columns) == list(FEATURES)
