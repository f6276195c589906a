"""Faults on the whole running pipeline, one stack for the module, once it serves a champion.

train-model killed mid-training, MLflow stopped while predictions flow, the whole stack
stopped and started again, and a bounded load test (LOAD_SECONDS, default 60) of predict
through the gateway. Each case prints one line: fault | what happened | what was lost.
"""

from __future__ import annotations

import os
import signal
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from infra.supervisor import Stack
from shared import storage
from shared.batches import list_batches
from shared.settings import Settings
from shared.training_lock import TrainingState
from tests.pipeline_support import FAST_CADENCE, pipeline_stack, wait_for
from tests.predict_support import sample_records

pytestmark = pytest.mark.services

LEASE_SECONDS = 8  # a killed training's lock frees itself this soon (renewed every 2 s while held)
FAULT_ENV = {"TRAINING_LOCK_LEASE_SECONDS": str(LEASE_SECONDS)}
CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "10", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}
LOAD_CONCURRENCY = 32


def summary(fault: str, happened: str, lost: str) -> None:
    print(f"\nFAULT | {fault} | {happened} | lost: {lost}")


@dataclass
class Pipeline:
    stack: Stack
    settings: Settings
    mlflow: MlflowClient
    auth: tuple[str, str]
    records: list[dict] = field(default_factory=lambda: sample_records(50, seed=6))

    @property
    def gateway(self) -> str:
        return self.stack.config.url("gateway")

    def champion(self) -> str | None:
        try:
            return self.mlflow.get_registered_model(self.settings.model_name).aliases.get("champion")
        except MlflowException:
            return None

    def versions(self) -> list[str]:
        found = self.mlflow.search_model_versions(f"name='{self.settings.model_name}'")
        return sorted(v.version for v in found)

    def trainings(self) -> dict[str, str]:
        """training_id -> status of its parent run."""
        experiment = self.mlflow.get_experiment_by_name(self.settings.experiment_name)
        if experiment is None:
            return {}
        runs = self.mlflow.search_runs([experiment.experiment_id], "tags.kind = 'training'", max_results=1000)
        return {run.data.tags["training_id"]: run.info.status for run in runs}

    def runs_of(self, training_id: str) -> list:
        experiment = self.mlflow.get_experiment_by_name(self.settings.experiment_name)
        return self.mlflow.search_runs([experiment.experiment_id], f"tags.training_id = '{training_id}'",
                                       max_results=100)

    def all_runs(self) -> int:
        experiment = self.mlflow.get_experiment_by_name(self.settings.experiment_name)
        return len(self.mlflow.search_runs([experiment.experiment_id], max_results=1000))

    def state(self) -> TrainingState:
        return TrainingState(self.settings, self.settings.group_number)

    def lock(self) -> dict | None:
        found = storage.read_json(self.settings, self.settings.batch_bucket, self.state().lock_key)
        return found[0] if found else None

    def batches(self) -> list[tuple[int, str]]:
        return [(b.batch_number, b.key) for b in list_batches(self.settings, self.settings.group_number)]

    def force_training(self) -> str:
        """The gateway's call id of an admin's forced retraining, queued."""
        response = requests.post(f"{self.gateway}/async-function/train-model", json={"force": True},
                                 auth=self.auth, timeout=10)
        assert response.status_code == 202, response.text
        return response.headers["X-Call-Id"]

    def call_outcome(self, call_id: str) -> str | None:
        """How the gateway reported an async call ("-> 200 after 2 run(s)"), once it has."""
        log = (self.stack.config.logs_dir / "gateway.log").read_text()
        done = [line for line in log.splitlines() if call_id in line and " -> " in line]
        return done[-1].split(call_id, 1)[1].strip() if done else None

    def info(self) -> dict:
        try:
            return requests.get(f"{self.gateway}/function/predict", timeout=10).json()
        except (requests.RequestException, ValueError):
            return {}

    def predict(self, session: requests.Session, body) -> requests.Response:
        return session.post(f"{self.gateway}/function/predict", json=body, timeout=30)


def start_env() -> dict[str, str]:
    return {**FAST_CADENCE, **FAULT_ENV}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        for key, value in CLIENT_ENV.items():
            patch.setenv(key, value)
        with pipeline_stack(tmp_path_factory.mktemp("faults"), FAULT_ENV) as stack:
            settings = stack.settings()
            auth = (stack.config.secret("basic-auth-user"), stack.config.secret("basic-auth-password"))
            found = Pipeline(stack, settings, MlflowClient(settings.mlflow_tracking_uri), auth)
            started = time.monotonic()
            wait_for(found.champion, 300, "the first champion", interval=2)
            wait_for(lambda: found.state().trained() and found.lock() is None, 60, "the first training to finish")
            wait_for(lambda: found.info().get("status") == "ok", 60, "predict serving the champion")
            print(f"\nfirst champion after {time.monotonic() - started:.0f} s of waiting")
            yield found


def test_train_model_killed_mid_training(pipeline):
    champion, known = pipeline.champion(), set(pipeline.trainings())
    lost_call = pipeline.force_training()
    holder = wait_for(lambda: (lock := pipeline.lock()) and lock["training_id"] not in known and lock, 30,
                      "the forced training to take the lock")
    killed = holder["training_id"]
    wait_for(lambda: pipeline.trainings().get(killed) == "RUNNING", 60, "the forced training's run")
    time.sleep(1)  # inside the families' fits (a training takes several seconds)
    pid = int(pipeline.stack.ctl("pid", "fn-train-model").stdout.strip())
    os.kill(pid, signal.SIGKILL)
    champion_after_kill = pipeline.champion()

    # the gateway retries the call it lost (train-model's com.openfaas.retry.* annotations):
    # 502 while the function restarts, 429 while the killed holder's lease runs, then it trains
    deadline = time.monotonic() + 240
    while (done := pipeline.state().trained())["training_id"] in known | {killed}:
        assert time.monotonic() < deadline, "no training succeeded after the kill"
        time.sleep(1)
    retried = done["training_id"]
    wait_for(lambda: pipeline.lock() is None, 30, "the retry to release the lock")
    gateway_retries = wait_for(lambda: pipeline.call_outcome(lost_call), 60, "the gateway to settle the lost call")
    trainings = pipeline.trainings()
    orphans = [v.version for v in pipeline.mlflow.search_model_versions(f"name='{pipeline.settings.model_name}'")
               if v.tags.get("training_id") == killed]
    killed_runs = pipeline.runs_of(killed)

    assert champion_after_kill == champion
    assert pipeline.champion() is not None
    assert gateway_retries.startswith("-> 200"), gateway_retries  # the lost call itself trained
    # the training that took over ended the killed one's runs still RUNNING (families done before stay FINISHED)
    assert "RUNNING" not in {run.info.status for run in killed_runs}
    assert trainings[killed] == "FAILED"
    failed = [run for run in killed_runs if run.info.status == "FAILED"]
    assert all("taken over" in run.data.tags.get("failure_reason", "") for run in failed)
    assert trainings[retried] == "FINISHED"
    assert set(trainings) == known | {killed, retried}  # the retry ran once
    summary("train-model SIGKILLed mid-training",
            f"champion stayed v{champion} after the kill; the gateway's lost call ended '{gateway_retries}'; "
            f"lock freed by its lease ({LEASE_SECONDS} s); the gateway's async retry trained once; "
            f"champion now v{pipeline.champion()}",
            f"nothing; {len(failed)} of the killed training's {len(killed_runs)} runs ended FAILED, "
            f"{len(orphans)} versions "
            "registered by it")


def test_mlflow_stopped_while_predictions_are_served(pipeline):
    version = pipeline.info()["version"]
    outcomes: Counter = Counter()
    answered_versions: set = set()
    stop = threading.Event()

    def client() -> None:
        with requests.Session() as session:
            for index in range(1_000_000):
                if stop.is_set():
                    return
                body = pipeline.records[index % 50] if index % 2 else {"instances": pipeline.records[:5]}
                try:
                    response = pipeline.predict(session, body)
                    outcomes[response.status_code] += 1
                    if response.status_code == 200:
                        answered_versions.add(response.json()["model"]["version"])
                except requests.RequestException as exc:
                    outcomes[type(exc).__name__] += 1

    thread = threading.Thread(target=client)
    thread.start()
    try:
        time.sleep(2)
        pipeline.stack.stop("mlflow")
        stopped = time.monotonic()
        degraded = wait_for(lambda: (info := pipeline.info()).get("status") == "degraded" and info, 30,
                            "predict to report degraded")
        time.sleep(5)  # a while with MLflow down
        pipeline.stack.start("mlflow", timeout=180)
        outage = time.monotonic() - stopped
        recovered = wait_for(lambda: (info := pipeline.info()).get("status") == "ok" and info, 60,
                             "predict to report ok")
        time.sleep(2)
    finally:
        stop.set()
        thread.join(timeout=60)

    failed = sum(count for key, count in outcomes.items() if key != 200)
    assert outcomes[200] > 0 and failed == 0, dict(outcomes)
    assert answered_versions == {version}
    assert "MLflow" in degraded["error"] and degraded["version"] == version
    assert recovered["version"] == version and "error" not in recovered
    summary("MLflow stopped while predictions are served",
            f"{outcomes[200]} answers in {outage:.0f} s of outage and restart, all by v{version}; "
            "info said degraded, then ok",
            f"nothing; {failed} failed answers")


def test_whole_stack_stopped_and_started_again(pipeline):
    before = {"batches": pipeline.batches(), "trainings": pipeline.trainings(), "runs": pipeline.all_runs(),
              "versions": pipeline.versions(), "champion": pipeline.champion(),
              "trained": pipeline.state().trained()}
    started = time.monotonic()
    pipeline.stack.down()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in start_env().items():
            patch.setenv(key, value)
        for key in [key for key in os.environ if key.startswith("PYTEST")]:
            patch.delenv(key)  # as pipeline_stack does: the UI would run in NiceGUI's test mode
        pipeline.stack.up(progress=lambda line: None)
    wait_for(lambda: pipeline.info().get("status") == "ok", 60, "predict serving again")
    restart = time.monotonic() - started
    time.sleep(10)  # cron fires fetch-batch, queued notifications and async calls get delivered
    answer = requests.post(f"{pipeline.gateway}/function/predict", json=pipeline.records[0], timeout=30)

    after = {"batches": pipeline.batches(), "trainings": pipeline.trainings(), "runs": pipeline.all_runs(),
             "versions": pipeline.versions(), "champion": pipeline.champion(),
             "trained": pipeline.state().trained()}
    assert answer.status_code == 200 and answer.json()["model"]["version"] == before["champion"]
    assert after == before
    summary("whole stack stopped and started again",
            f"back serving in {restart:.0f} s; {len(after['batches'])} batches, {len(after['trainings'])} trainings "
            f"({after['runs']} runs), {len(after['versions'])} versions, champion v{after['champion']} all as before; "
            "no new training",
            "nothing")


def test_bounded_load_through_the_gateway(pipeline):
    seconds = float(os.environ.get("LOAD_SECONDS", "60"))
    version = pipeline.info()["version"]
    latencies: list[float] = []
    errors: Counter = Counter()
    deadline = time.monotonic() + seconds

    def worker(offset: int) -> None:
        with requests.Session() as session:
            index = offset
            while time.monotonic() < deadline:
                index += 1
                body = pipeline.records[index % 50] if index % 4 else {"instances": pipeline.records[:10]}
                began = time.perf_counter()
                try:
                    response = pipeline.predict(session, body)
                    ok = response.status_code == 200 and response.json()["model"]["version"] == version
                    if not ok:
                        errors[response.status_code] += 1
                except requests.RequestException as exc:
                    errors[type(exc).__name__] += 1
                latencies.append(time.perf_counter() - began)

    began = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(LOAD_CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    elapsed = time.monotonic() - began

    quantiles = statistics.quantiles(latencies, n=100)
    p50, p99 = quantiles[49] * 1000, quantiles[98] * 1000
    print(f"\nload: {len(latencies)} requests in {elapsed:.1f} s at concurrency {LOAD_CONCURRENCY} "
          f"({len(latencies) / elapsed:.0f} req/s; 3 of 4 single records, 1 of 4 ten), "
          f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {max(latencies) * 1000:.0f} ms, errors {dict(errors)}")
    assert latencies and not errors
    summary(f"load: predict at concurrency {LOAD_CONCURRENCY} for {seconds:.0f} s",
            f"{len(latencies)} answers, {len(latencies) / elapsed:.0f} req/s, p50 {p50:.0f} ms, p99 {p99:.0f} ms",
            "nothing; 0 errors")
