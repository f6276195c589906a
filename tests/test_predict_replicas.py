"""predict at 2 replicas under a bounded 60 s load through the gateway, one replica killed midway.

predict as stack.yml defines it (alone in a stack file of the test's own, so that the
other functions do not start) and the gateway run under a supervisord of their own,
against the session stack's MLflow and MinIO (its ports and secrets), with a champion
of this test's own model name.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import threading
import time
import uuid
from collections import Counter

import pytest
import requests
import yaml

from infra.supervisor import Stack
from shared.settings.stack import ROOT
from tests.conftest import free_port
from tests.predict_support import register_model, sample_records
from tests.process_support import cpu_seconds

pytestmark = pytest.mark.services

LOAD_SECONDS = 60
CLIENTS = 3
KILL_AT = 20


@pytest.fixture
def predict_stack(stack, gateway, tmp_path, monkeypatch):
    """A gateway with predict alone, on the session stack's NATS (which the `gateway` fixture starts)."""
    model_name = f"replicas-{uuid.uuid4().hex[:8]}"
    register_model(stack.config.url("mlflow"), model_name)
    document = yaml.safe_load((ROOT / "stack.yml").read_text())
    predict = {**document["functions"]["predict"], "handler": str(ROOT / "functions" / "predict")}
    stack_file = tmp_path / "stack.yml"
    stack_file.write_text(yaml.safe_dump({**document, "functions": {"predict": predict}}))
    ports = {**stack.config.ports, "gateway": free_port(), "functions": free_port()}
    config = dataclasses.replace(stack.config, state_dir=tmp_path / "state", ports=ports, stack_file=stack_file)
    shutil.copytree(stack.config.secrets_dir, config.secrets_dir)
    monkeypatch.setenv("MODEL_NAME", model_name)
    monkeypatch.setenv("PREDICT_THREADS", "4")
    started = Stack(config)
    try:
        started.up(["functions", "gateway"], progress=lambda line: None)
        yield started
    finally:
        started.down()


def test_two_predict_replicas_share_a_60s_load_and_a_kill_fails_no_call(predict_stack):
    url = predict_stack.config.url("gateway")
    auth = (predict_stack.config.secret("basic-auth-user"), predict_stack.config.secret("basic-auth-password"))

    def available() -> int:
        return requests.get(f"{url}/system/function/predict", auth=auth, timeout=10).json()["availableReplicas"]

    scaled = requests.post(f"{url}/system/scale-function/predict", json={"replicas": 2}, auth=auth, timeout=60)
    assert scaled.status_code == 202
    deadline = time.monotonic() + 60
    while available() < 2:
        assert time.monotonic() < deadline, "predict did not reach 2 ready replicas in 60 s"
        time.sleep(0.5)
    records = sample_records(5, seed=3)
    assert requests.post(f"{url}/function/predict", json={"instances": records}, timeout=30).status_code == 200

    pids = {p: int(predict_stack.ctl("pid", p).stdout) for p in ("fn-predict", "fn-predict-1")}
    cpu_before = {p: cpu_seconds(pid) for p, pid in pids.items()}
    codes: Counter[int] = Counter()
    seconds: list[float] = []
    failures: list[str] = []
    timeline: list[tuple[float, int]] = []
    stop = threading.Event()
    started = time.monotonic()

    def client(seed: int) -> None:
        session = requests.Session()
        body = {"instances": sample_records(20, seed=seed)}
        while not stop.is_set():
            try:
                response = session.post(f"{url}/function/predict", json=body, timeout=30)
                codes[response.status_code] += 1
                seconds.append(response.elapsed.total_seconds())
                if response.status_code != 200:
                    failures.append(f"{time.monotonic() - started:.1f}s {response.status_code} {response.text[:120]}")
            except requests.RequestException as exc:
                failures.append(f"{time.monotonic() - started:.1f}s {type(exc).__name__}")

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(CLIENTS)]
    for thread in threads:
        thread.start()
    cpu_at_kill = None
    try:
        while time.monotonic() - started < LOAD_SECONDS:
            timeline.append((round(time.monotonic() - started, 1), available()))
            if cpu_at_kill is None and time.monotonic() - started >= KILL_AT:
                cpu_at_kill = {p: cpu_seconds(pid) for p, pid in pids.items()}
                os.kill(pids["fn-predict-1"], signal.SIGKILL)
            time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)

    served = {p: cpu_at_kill[p] - cpu_before[p] for p in pids}
    seconds.sort()
    print(f"calls {sum(codes.values())} codes {dict(codes)}; latency p50 {seconds[len(seconds) // 2]:.3f} s "
          f"max {seconds[-1]:.3f} s; replica cpu s before the kill {served}; availableReplicas timeline {timeline}")
    for program in pids:
        print(program, (predict_stack.config.logs_dir / f"{program}.log").read_text()[-1500:])
    assert not failures, f"{len(failures)} failed call(s): {failures[:5]}"
    assert all(seconds > 1.0 for seconds in served.values()), f"a replica served little or nothing: {served}"
    after_kill = [count for at, count in timeline if at > KILL_AT]
    assert 1 in after_kill, f"availableReplicas never showed the killed replica gone: {timeline}"
    assert after_kill[-1] == 2, f"the killed replica did not come back: {timeline}"
