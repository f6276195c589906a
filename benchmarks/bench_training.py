"""Training on ten batches as the Data API serves them: fit times, accuracy, the whole run.

Run with `make bench`. The batches are drawn as the real API does: ten random samples of
5,810 rows from the same tenth of the (synthetic, stand-in) dataset, so they overlap.
Prints rows, per-family fit time and accuracy, the pickled model sizes, the pure training
total, the total through MinIO + MLflow (train-model's own path), and scikit-learn's
`GradientBoostingClassifier` with default settings on the same data for comparison.
"""

from __future__ import annotations

import pickle
import random
import time
import uuid

import pytest
from sklearn.ensemble import GradientBoostingClassifier

from infra.data_api.source import synthetic_source
from shared import training
from shared.batches import store_batch
from shared.dataset import frame_from_rows
from shared.retrain import Call, handle_call
from shared.settings import load_settings
from shared.threads import single_threaded_math
from tests.conftest import running_stack

pytestmark = pytest.mark.bench

GROUP = 6
BATCHES = 10
BATCH_ROWS = 5810  # what the real API samples per call: len(dataset) // 10 // 10
GBC_ROWS = 40_000  # GradientBoostingClassifier is slow (~45 s on 30,000 rows here): capped
GB_TOLERANCE = 0.01  # the holdout's noise: another seed moves the booster by about a point
TARGET_SECONDS = 60


@pytest.fixture(scope="module")
def batches() -> list[list[list[str]]]:
    part = synthetic_source(581_012, seed=6).part_for_group(GROUP)
    sampler = random.Random(GROUP)
    return [sampler.sample(part, BATCH_ROWS) for _ in range(BATCHES)]


def test_training_three_families_on_ten_batches(batches):
    started = time.perf_counter()
    data = training.prepare(frame_from_rows([row for batch in batches for row in batch]))
    prepared = time.perf_counter() - started
    lineage = data.lineage()
    print(f"\n[training] rows loaded {lineage['rows_loaded']}, unique {lineage['rows_unique']} "
          f"(duplicates dropped {lineage['rows_duplicate']}, conflicting labels {lineage['rows_conflicting']}), "
          f"train {lineage['rows_train']}, holdout {lineage['rows_holdout']}; parse + prepare {prepared:.1f} s")
    candidates = []
    for family in training.FAMILIES:
        candidate = training.train_candidate(family, data)
        candidates.append(candidate)
        size = len(pickle.dumps(candidate.pipeline)) / 1e6
        print(f"[training] {family:<24} fit {candidate.fit_seconds:6.1f} s   accuracy "
              f"{candidate.evaluation.accuracy:.4f}   f1_weighted {candidate.evaluation.f1_weighted:.4f}   "
              f"pickle {size:5.1f} MB")
        assert size < 30
    total = time.perf_counter() - started
    print(f"[training] total (parse, prepare, fit and score three families) {total:.1f} s  (target < {TARGET_SECONDS} s)")

    gbc_started = time.perf_counter()
    rows = min(GBC_ROWS, len(data.x_train))
    preprocess = training.build_pipeline("hist_gradient_boosting").named_steps["preprocess"]
    with single_threaded_math():
        x_train = preprocess.fit_transform(data.x_train.iloc[:rows])
        gbc = GradientBoostingClassifier(random_state=training.SEED).fit(x_train, data.y_train.iloc[:rows])
        gbc_accuracy = float((gbc.predict(preprocess.transform(data.x_holdout)) == data.y_holdout.to_numpy()).mean())
    hist = next(c for c in candidates if c.family == "hist_gradient_boosting")
    sample = "all" if rows == len(data.x_train) else f"a {rows}-row subsample of the"
    print(f"[training] GradientBoostingClassifier (defaults) on {sample} {len(data.x_train)} training rows: "
          f"fit {time.perf_counter() - gbc_started:.1f} s, accuracy {gbc_accuracy:.4f}; "
          f"HistGradientBoostingClassifier (ours): fit {hist.fit_seconds:.1f} s, accuracy {hist.evaluation.accuracy:.4f} "
          f"(difference {hist.evaluation.accuracy - gbc_accuracy:+.4f})")
    assert total < TARGET_SECONDS
    assert hist.evaluation.accuracy >= gbc_accuracy - GB_TOLERANCE


@pytest.fixture(scope="module")
def bench_stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("bench-training-stack")) as started:
        yield started


def test_train_model_end_to_end_through_minio_and_mlflow(batches, bench_stack, monkeypatch):
    suffix = uuid.uuid4().hex[:6]
    env = {**bench_stack.config.service_env(), "BATCH_BUCKET": f"bench-{suffix}",
           "EXPERIMENT_NAME": f"bench-{suffix}", "MODEL_NAME": f"bench-{suffix}"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    for number, rows in enumerate(batches, start=1):
        store_batch(settings, GROUP, number, rows, "bench://synthetic")
    started = time.perf_counter()
    result = handle_call(settings, Call(force=False, keys=()))
    total = time.perf_counter() - started
    assert result["status"] == "trained", result
    fits = ", ".join(f"{c['family']} {c['fit_seconds']:.1f} s" for c in result["candidates"])
    print(f"\n[train-model] load 10 batches from MinIO, train, log 3 runs + models to MLflow, register, alias: "
          f"{total:.1f} s (target < {TARGET_SECONDS} s); fits: {fits}; decision: {result['decision']}")
    assert total < TARGET_SECONDS
