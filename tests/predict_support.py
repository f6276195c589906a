"""Helpers for the predict tests and benchmark: a small model honouring the training contract.

Until training registers real models, tests register their own: a scikit-learn Pipeline
over `shared.schema.FEATURES` whose first step casts (values may be strings), logged as
training logs it (`shared.tracking.log_skops_model`) and tagged like training's, checksum
included.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from shared.schema import CATEGORIES, FEATURES, NUMERIC_FEATURES, NUMERIC_RANGES
from tests.conftest import free_port
from tests.process_support import stop_process


class FixedHolder:
    """Stands in for the registry boundary only: always the same champion."""

    def __init__(self, champion):
        self.champion = champion

    def current(self):
        return self.champion

    def status(self):
        return {**self.champion.describe(), "status": "ok"}

    def stop(self):
        pass


def sample_records(count: int, seed: int = 0) -> list[dict]:
    """Valid records inside the schema's ranges; numbers as ints, as a client would send them."""
    rng = np.random.default_rng(seed)
    records = []
    for _ in range(count):
        record: dict = {name: int(rng.integers(low, high + 1)) for name, (low, high) in NUMERIC_RANGES.items()}
        for name, values in CATEGORIES.items():
            record[name] = str(values[rng.integers(len(values))])
        records.append(record)
    return records


def synthetic_frame(count: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.DataFrame(sample_records(count, seed), columns=list(FEATURES))
    # a learnable label: elevation bands, nudged by the wilderness area
    bands = np.digitize(frame["Elevation"], [2300, 2600, 2900, 3100, 3300, 3600]) + 1
    shift = (frame["Wilderness_Area"] == "Cache").astype(int)
    return frame, np.clip(bands - shift, 1, 7)


def build_pipeline(family: str = "random_forest", seed: int = 0, rows: int = 2000):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    cast = ColumnTransformer(
        [
            ("numeric", FunctionTransformer(np.asarray, kw_args={"dtype": np.float64}), list(NUMERIC_FEATURES)),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(CATEGORIES)),
        ]
    )
    if family == "logistic_regression":
        model = Pipeline([("scale", StandardScaler(with_mean=False)), ("clf", LogisticRegression(max_iter=300))])
    else:
        model = RandomForestClassifier(n_estimators=30, max_depth=8, random_state=seed)
    pipeline = Pipeline([("features", cast), ("model", model)])
    frame, labels = synthetic_frame(rows, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter from the deliberately small fit
        pipeline.fit(frame, labels)
    return pipeline


def register_model(tracking_uri: str, model_name: str, family: str = "random_forest", seed: int = 0,
                   alias: str | None = "champion", pipeline=None) -> tuple[str, object]:
    """Log and register one version as training does (a small one of ours unless `pipeline`
    is given); returns (version, pipeline)."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    from shared.model_file import CHECKSUM_TAG
    from shared.tracking import log_skops_model

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(f"{model_name}-experiment")
    pipeline = pipeline if pipeline is not None else build_pipeline(family, seed)
    example = pd.DataFrame(sample_records(3, seed), columns=list(FEATURES))
    with mlflow.start_run() as run, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mlflow's integer-schema hints
        info, sha256 = log_skops_model(
            pipeline, signature=infer_signature(example, pipeline.predict(example)), input_example=example,
            registered_model_name=model_name,
        )
    client = MlflowClient(tracking_uri)
    version = str(info.registered_model_version)
    tags = {"family": family, "accuracy": "0.9", "f1_weighted": "0.89", "training_id": run.info.run_id,
            CHECKSUM_TAG: sha256}
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    if alias:
        client.set_registered_model_alias(model_name, alias, version)
    return version, pipeline


ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template" / "python3-http-debian" / "index.py"


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listened on {port} within {timeout} s")


@contextmanager
def predict_process(env: dict[str, str], log_path: Path, port: int | None = None):
    """The predict function served by the python3-http template as its own process; yields its URL."""
    port = port or free_port()
    full_env = {
        **os.environ, **env, "FUNCTION_DIR": str(ROOT / "functions" / "predict"), "FUNCTION_PORT": str(port),
        "PYTHONPATH": str(ROOT),
    }
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, str(TEMPLATE)], env=full_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, 30, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)
