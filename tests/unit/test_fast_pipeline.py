"""The numpy path through a fitted pipeline gives scikit-learn's own probabilities, for every family."""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from infra.data_api.synthetic import generate
from shared import training
from shared.champion import champion_of
from shared.dataset import frame_from_rows
from shared.fast_pipeline import SPLIT_MIN_ROWS, CompiledTrees, FastPipeline, probe_columns
from shared.predict_service import PredictService, column_array
from shared.registry import VersionInfo
from shared.schema import FEATURES, NUMERIC_FEATURES
from shared.settings import load_settings
from tests.predict_support import FixedHolder, build_pipeline, sample_records

UNSEEN_SOILS = ("C7745", "C2703")  # left out of training: requests carrying them take the "unknown" paths


@pytest.fixture(scope="module")
def prepared() -> training.PreparedData:
    frame = frame_from_rows(generate(3000, seed=4))
    return training.prepare(frame[~frame["Soil_Type"].isin(UNSEEN_SOILS)])


@pytest.fixture(scope="module", params=training.FAMILIES)
def trained(request, prepared):
    return request.param, training.train_candidate(request.param, prepared).pipeline


def request_columns(count: int, as_arrays: bool) -> dict:
    columns = probe_columns(count, seed=count)
    columns["Soil_Type"][::3] = [UNSEEN_SOILS[0]] * len(columns["Soil_Type"][::3])
    if as_arrays:  # what the scoring thread hands over after merging jobs
        return {name: column_array(name, values) for name, values in columns.items()}
    return {name: list(values) for name, values in columns.items()}


def as_frame(columns: dict) -> pd.DataFrame:
    return pd.DataFrame({name: list(columns[name]) for name in FEATURES})


@pytest.mark.parametrize("count", [1, 16, SPLIT_MIN_ROWS - 1, SPLIT_MIN_ROWS, 1001])
@pytest.mark.parametrize("as_arrays", [False, True], ids=["lists", "arrays"])
def test_fast_path_equals_the_pipeline(trained, count, as_arrays):
    family, pipeline = trained
    fast = FastPipeline.compile(pipeline)
    assert fast is not None, f"{family} should compile"
    columns = request_columns(count, as_arrays)
    expected = pipeline.predict_proba(as_frame(columns))
    got = fast.predict_proba(columns, count)
    if family == "logistic_regression":  # a dense product where scikit-learn multiplies a sparse matrix
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    else:
        assert np.array_equal(got, expected)


def test_the_compiled_trees_are_what_booster_requests_take(trained):
    family, pipeline = trained
    fast = FastPipeline.compile(pipeline)
    assert (fast._trees is not None) == (family == "hist_gradient_boosting")


def test_the_forest_predicts_in_one_thread(prepared):
    pipeline = training.train_candidate("random_forest", prepared).pipeline
    assert pipeline[-1].n_jobs == 2
    FastPipeline.compile(pipeline)
    assert pipeline[-1].n_jobs == 1


@pytest.mark.parametrize("family", ["random_forest", "logistic_regression"])
def test_the_test_suites_own_pipelines_compile_and_agree(family):
    pipeline = build_pipeline(family, seed=2, rows=800)
    fast = FastPipeline.compile(pipeline)
    columns = request_columns(40, as_arrays=False)
    np.testing.assert_allclose(fast.predict_proba(columns, 40), pipeline.predict_proba(as_frame(columns)),
                               rtol=0, atol=1e-12)


def numeric_only_pipeline():
    frame = pd.DataFrame(sample_records(300, seed=1), columns=list(FEATURES))
    labels = (frame["Elevation"] > 3000).astype(int)
    return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(
        frame[list(NUMERIC_FEATURES)], labels)


def native_categorical_booster(prepared):
    pipeline = training.build_pipeline("hist_gradient_boosting")
    pipeline.set_params(classifier=HistGradientBoostingClassifier(max_iter=5, categorical_features=[10, 11]))
    return pipeline.fit(prepared.x_train, prepared.y_train)


def min_max_scaled_pipeline(prepared):
    pipeline = training.build_pipeline("logistic_regression")
    pipeline.set_params(preprocess__numeric__scale=MinMaxScaler())
    return pipeline.fit(prepared.x_train, prepared.y_train)


@pytest.mark.parametrize("make", [lambda prepared: numeric_only_pipeline(), native_categorical_booster,
                                  min_max_scaled_pipeline],
                         ids=["no-column-transformer", "native-categories", "min-max-scaler"])
def test_other_pipelines_are_scored_as_they_are(make, prepared):
    pipeline = make(prepared)
    assert FastPipeline.compile(pipeline) is None


def test_a_fast_path_that_disagrees_is_not_used(prepared, monkeypatch, caplog):
    pipeline = training.train_candidate("hist_gradient_boosting", prepared).pipeline
    exact = CompiledTrees.predict_proba
    monkeypatch.setattr(CompiledTrees, "predict_proba", lambda self, features: exact(self, features) + 1e-6)
    with caplog.at_level(logging.WARNING):
        assert FastPipeline.compile(pipeline) is None
    assert "differs from the pipeline" in caplog.text


def test_a_renamed_scikit_learn_internal_falls_back_to_the_pipeline(prepared, monkeypatch, caplog):
    pipeline = training.train_candidate("hist_gradient_boosting", prepared).pipeline

    def renamed(self, model):
        raise AttributeError("'HistGradientBoostingClassifier' object has no attribute '_predictors'")

    monkeypatch.setattr(CompiledTrees, "__init__", renamed)
    with caplog.at_level(logging.INFO):
        champion = champion_of(VersionInfo("m", "1", "run", "models:/m/1", {}), pipeline)
    assert champion.fast is None
    assert [record.levelno for record in caplog.records] == [logging.ERROR]
    assert "_predictors" in caplog.text
    service = PredictService(load_settings({}), holder=FixedHolder(champion))
    records = sample_records(3, seed=5)
    event = SimpleNamespace(method="POST", body=orjson.dumps({"instances": records}),
                            headers={"Content-Type": "application/json"})
    response = service.handle(event)
    assert response["statusCode"] == 200
    predictions = orjson.loads(response["body"])["predictions"]
    assert [p["cover_type"] for p in predictions] == pipeline.predict(pd.DataFrame(records)).tolist()


@pytest.mark.parametrize("fast", [True, False], ids=["in-request-threads", "merged-by-the-scoring-thread"])
def test_concurrent_requests_get_their_own_answers(prepared, fast):
    pipeline = training.train_candidate("hist_gradient_boosting", prepared).pipeline
    champion = champion_of(VersionInfo("m", "1", "run", "models:/m/1", {}), pipeline)
    if not fast:  # as a champion the fast path does not compile is scored
        champion = dataclasses.replace(champion, fast=None)
    service = PredictService(load_settings({}), holder=FixedHolder(champion))
    bodies: list[dict] = sample_records(60, seed=8)
    bodies += [{"instances": sample_records(size, seed=size)} for size in (3, 20, 200)]

    def ask(body):
        event = SimpleNamespace(method="POST", body=orjson.dumps(body), headers={"Content-Type": "application/json"})
        response = service.handle(event)
        assert response["statusCode"] == 200
        return orjson.loads(response["body"])["predictions"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, bodies))
    for body, predictions in zip(bodies, answers, strict=True):
        records = body["instances"] if "instances" in body else [body]
        expected = pipeline.predict_proba(pd.DataFrame(records, columns=list(FEATURES))).round(6)
        got = [[p["probabilities"][str(c)] for c in pipeline.classes_] for p in predictions]
        assert np.array_equal(np.array(got), expected)
        assert [p["cover_type"] for p in predictions] == pipeline.predict(pd.DataFrame(records)).tolist()
