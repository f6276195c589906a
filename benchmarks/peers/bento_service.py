"""The BentoML side of `make bench`: the champion pipeline behind one BentoML API, in a few lines.

Served by `bentoml serve bento_service:Covertype` from its own virtualenv (.bench/bentoml);
BENCH_MODEL_FILE names the joblib file of the champion the bench dumped.
"""

import os

import bentoml
import joblib
import pandas as pd


@bentoml.service(logging={"access": {"enabled": False}})  # as our gateway: no per-request log line
class Covertype:
    def __init__(self) -> None:
        self.pipeline = joblib.load(os.environ["BENCH_MODEL_FILE"])
        self.columns = list(self.pipeline.feature_names_in_)

    @bentoml.api
    def predict(self, instances: list[dict]) -> list[list[float]]:
        return self.pipeline.predict_proba(pd.DataFrame(instances, columns=self.columns)).tolist()
