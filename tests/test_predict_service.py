"""The predict function as its own process against the real MLflow and MinIO of the session stack.

Each test registers its own model (the training contract: a pickled sklearn Pipeline under
alias `champion`) and starts the function with the python3-http template.
"""

from __future__ import annotations

import threading
import time
import uuid

import pandas as pd
import pytest
import requests

from shared.schema import FEATURES
from tests.predict_support import predict_process, register_model, sample_records

pytestmark = pytest.mark.services

POLL_SECONDS = 1.0
LOAD_MARGIN = 2.0  # seconds to fetch and unpickle the new version after the poll sees it


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def function_env(stack_env: dict[str, str], model_name: str) -> dict[str, str]:
    return {**stack_env, "MODEL_NAME": model_name, "MODEL_POLL_SECONDS": str(POLL_SECONDS)}


def trained_booster():
    """A champion as training makes it (the family that wins on the stand-in's data)."""
    from infra.data_api.synthetic import generate
    from shared.dataset import frame_from_rows
    from shared.training import prepare, train_candidate

    return train_candidate("hist_gradient_boosting", prepare(frame_from_rows(generate(3000, seed=5)))).pipeline


@pytest.mark.parametrize("family", ["random_forest", "hist_gradient_boosting"])
def test_predictions_equal_the_in_process_champion(stack_env, tmp_path, family):
    name = unique_name("predict-equal")
    own = trained_booster() if family == "hist_gradient_boosting" else None
    version, pipeline = register_model(stack_env["MLFLOW_TRACKING_URI"], name, family=family, seed=5, pipeline=own)
    records = sample_records(60, seed=21)
    expected = pipeline.predict(pd.DataFrame(records, columns=list(FEATURES))).tolist()
    expected_proba = pipeline.predict_proba(pd.DataFrame(records, columns=list(FEATURES)))
    with predict_process(function_env(stack_env, name), tmp_path / "predict.log") as url:
        batch = requests.post(url, json={"instances": records}, timeout=30)
        singles = [requests.post(url, json=record, timeout=30).json() for record in records[:10]]
        csv_body = ",".join(FEATURES) + "\n" + "\n".join(",".join(str(r[c]) for c in FEATURES) for r in records)
        as_csv = requests.post(url, data=csv_body, headers={"Content-Type": "text/csv"}, timeout=30)
        info = requests.get(url, timeout=30).json()
    assert batch.status_code == 200, batch.text
    assert [p["cover_type"] for p in batch.json()["predictions"]] == expected
    assert [s["predictions"][0]["cover_type"] for s in singles] == expected[:10]
    assert as_csv.json()["predictions"] == batch.json()["predictions"]
    for prediction, row in zip(batch.json()["predictions"], expected_proba, strict=True):
        assert [prediction["probabilities"][str(c)] for c in pipeline.classes_] == pytest.approx(list(row), abs=1e-6)
    assert [s["predictions"][0] for s in singles] == batch.json()["predictions"][:10]
    assert batch.json()["model"] == {"name": name, "version": version, "run_id": info["run_id"], "family": family}
    assert info["status"] == "ok" and info["version"] == version
    assert info["metrics"] == {"accuracy": 0.9, "f1_weighted": 0.89} and info["loaded_at"]


def test_hot_swap_while_a_client_keeps_asking(stack_env, tmp_path):
    from mlflow import MlflowClient

    name = unique_name("predict-swap")
    uri = stack_env["MLFLOW_TRACKING_URI"]
    first, _ = register_model(uri, name, seed=1)
    second, _ = register_model(uri, name, family="logistic_regression", seed=2, alias=None)
    record = sample_records(1, seed=3)[0]
    answers: list[tuple[float, int, str]] = []
    stop = threading.Event()

    def client(url: str) -> None:
        with requests.Session() as session:
            while not stop.is_set():
                response = session.post(url, json=record, timeout=10)
                version = response.json().get("model", {}).get("version", "") if response.ok else ""
                answers.append((time.monotonic(), response.status_code, version))

    with predict_process(function_env(stack_env, name), tmp_path / "predict.log") as url:
        assert requests.post(url, json=record, timeout=30).json()["model"]["version"] == first
        worker = threading.Thread(target=client, args=(url,))
        worker.start()
        try:
            time.sleep(0.5)
            MlflowClient(uri).set_registered_model_alias(name, "champion", second)
            swapped_at = time.monotonic()
            deadline = swapped_at + POLL_SECONDS + LOAD_MARGIN + 5
            while time.monotonic() < deadline and not any(v == second for _, _, v in answers):
                time.sleep(0.05)
            time.sleep(0.5)
        finally:
            stop.set()
            worker.join(15)
        info = requests.get(url, timeout=10).json()

    assert answers and all(status == 200 for _, status, _ in answers), [a for a in answers if a[1] != 200][:5]
    versions = [v for _, _, v in answers]
    switch = versions.index(second)
    assert set(versions[:switch]) <= {first} and set(versions[switch:]) == {second}  # one clean switch
    assert answers[switch][0] - swapped_at <= POLL_SECONDS + LOAD_MARGIN
    assert info["version"] == second and info["family"] == "logistic_regression"


def test_no_champion_is_a_503_until_training_registers_one(stack_env, tmp_path):
    name = unique_name("predict-empty")
    record = sample_records(1)[0]
    with predict_process(function_env(stack_env, name), tmp_path / "predict.log") as url:
        answer = requests.post(url, json=record, timeout=30)
        info = requests.get(url, timeout=30)
        assert answer.status_code == info.status_code == 503
        assert answer.json() == info.json()  # one shape for GET and POST
        assert info.json()["status"] == "no_champion" and "training" in info.json()["error"]
        bad = requests.post(url, json={"Elevation": "x"}, timeout=30)
        assert bad.status_code == 422  # bad input is still the caller's problem, champion or not
        version, _ = register_model(stack_env["MLFLOW_TRACKING_URI"], name)
        time.sleep(1.1)  # a failed look is retried after a second
        later = requests.post(url, json=record, timeout=30)
    assert later.status_code == 200 and later.json()["model"]["version"] == version
