"""The whole system, end to end, and the first half of the fault suite.

Two pipelines, each every service of `make up` with a compressed cadence
(tests/pipeline_support.py), each from an empty state:

- `e2e`: left alone, it stores ten batches, trains once, crowns a champion that answers
  through the gateway, and the UI's Pipeline page shows it.
- `faulty`: the same pipeline, with three faults injected one after the other while it
  collects (the Data API failing and sending garbage, MinIO killed, the gateway killed
  while MinIO holds notifications). The tests run in file order on it: each checks that
  nothing was lost or duplicated and that collection goes on once its fault clears; the
  last one checks the whole run completed (ten batches, one training).

Each case prints one summary line (`pytest -s` shows them).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import requests

from infra.demo import SAMPLE, champion_version
from infra.gateway import runtime
from infra.supervisor import Stack
from shared.batches import BatchInfo, list_batches, load_batch
from shared.schema import COLUMNS, FEATURES
from shared.settings import Settings
from tests.faas_cli_support import FaasCli
from tests.http_support import LoopbackServer, QuietHandler
from tests.pipeline_support import pipeline_stack, wait_for
from tests.runtime_support import queued_calls

pytestmark = pytest.mark.services

BATCHES = 10
ROWS_PER_BATCH = 581  # DATA_API_ROWS 58101 in FAST_CADENCE: a hundredth per batch
FAMILIES = 3


# --- what the pipeline holds ------------------------------------------------------------------
def stored(settings: Settings) -> list[BatchInfo]:
    return list_batches(settings, settings.group_number)


def stored_numbers(settings: Settings) -> list[int]:
    return [info.batch_number for info in stored(settings)]


def assert_batches_intact(settings: Settings, expected: list[int], earlier: Sequence[BatchInfo] = ()) -> list[BatchInfo]:
    """Exactly `expected` stored, one object each, every body complete and matching its checksum,
    and the `earlier` ones never rewritten."""
    infos = stored(settings)
    numbers = [info.batch_number for info in infos]
    assert numbers == expected, f"stored batches {numbers}, expected {expected}"
    assert len({info.key for info in infos}) == len(infos)
    assert infos[: len(earlier)] == list(earlier), "a batch stored before the fault was written again"
    for info in infos:
        body = load_batch(settings, settings.group_number, info.batch_number)  # verifies the checksum
        assert body["group_number"] == settings.group_number and body["batch_number"] == info.batch_number
        assert len(body["rows"]) == info.rows == ROWS_PER_BATCH
        assert all(len(row) == len(COLUMNS) for row in body["rows"])
    return infos


def mlflow_client(settings: Settings):
    from mlflow import MlflowClient

    return MlflowClient(settings.mlflow_tracking_uri)


def trainings(settings: Settings) -> dict:
    """Runs and registered versions of the pipeline's experiment and model, grouped by training."""
    client = mlflow_client(settings)
    experiment = client.get_experiment_by_name(settings.experiment_name)
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    versions = client.search_model_versions(f"name = '{settings.model_name}'") if experiment else []
    return {
        "training_ids": {run.data.tags.get("training_id") for run in runs},
        "parents": [run for run in runs if run.data.tags.get("kind") == "training"],
        "models": [run for run in runs if run.data.tags.get("family")],
        "unfinished": [run.info.run_id for run in runs if run.info.status != "FINISHED"],
        "versions": versions,
    }


def queued_files(directory: Path) -> int:
    return sum(1 for path in directory.rglob("*") if path.is_file()) if directory.exists() else 0


def minio_events_dir(stack: Stack) -> Path:
    return stack.config.state_dir / "minio" / "events"


def wait_trained_once(stack: Stack, timeout: float) -> dict:
    """Wait for the champion, then for every notification to be delivered and handled; the trainings."""
    settings = stack.settings()
    version = wait_for(lambda: champion_version(settings), timeout, "a champion")
    wait_for(lambda: queued_files(minio_events_dir(stack)) == 0 and queued_calls(stack) == 0,
             60, "MinIO's and the gateway's queues to drain")
    time.sleep(3)  # a duplicate training would have registered its parent run by now
    found = trainings(settings)
    assert len(found["training_ids"]) == 1, f"trainings {found['training_ids']}"
    assert len(found["parents"]) == 1 and len(found["models"]) == FAMILIES, found
    assert not found["unfinished"], f"runs not FINISHED: {found['unfinished']}"
    assert len(found["versions"]) == FAMILIES
    assert {v.tags.get("training_id") for v in found["versions"]} == found["training_ids"]
    assert version in {v.version for v in found["versions"]}
    return {**found, "champion": version}


def cron_answers(stack: Stack) -> list[str]:
    """fetch-batch's status codes in cron-connector's log, in order ('-' when the gateway was not reached)."""
    log = stack.config.logs_dir / "cron.log"
    answers = []
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        if "Response: fetch-batch [" in line:
            answers.append(line.split("Response: fetch-batch [", 1)[1].split("]")[0])
        elif "unable to invoke fetch-batch" in line:
            answers.append("-")
    return answers


def fetch_batch_url(stack: Stack) -> str:
    """fetch-batch's own port, behind the gateway (as a container's port is)."""
    port = runtime.function_ports(runtime.read_stack(stack.config), stack.config.ports["functions"])["fetch-batch"]
    return f"http://{stack.config.host}:{port}/"


def summary(fault: str, happened: str, lost: str) -> None:
    print(f"\nSUMMARY | {fault} | {happened} | {lost}", flush=True)


# --- the demo cycle ---------------------------------------------------------------------------
RUNNING: list[Stack] = []  # this module's stacks, so the next one can stop the last (2 cores: one at a time)


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    started = time.monotonic()
    with pipeline_stack(tmp_path_factory.mktemp("e2e")) as stack:
        stack.started_at = started
        RUNNING.append(stack)
        yield stack


def test_empty_state_to_a_serving_champion(e2e, tmp_path):
    settings = e2e.settings()
    assert champion_version(settings) is None
    up = time.monotonic() - e2e.started_at
    wait_for(lambda: len(stored(settings)) == BATCHES, 180, "ten batches")
    collected = time.monotonic() - e2e.started_at
    found = wait_trained_once(e2e, 240)
    assert_batches_intact(settings, list(range(1, BATCHES + 1)))
    records = [dict(zip(FEATURES, row, strict=False)) for row in load_batch(settings, settings.group_number, 3)["rows"][:20]]
    cli = FaasCli(e2e.config.url("gateway"), tmp_path / "openfaas")
    cli.login(e2e.config.secret("basic-auth-user"), e2e.config.secret("basic-auth-password"))  # as the README says
    answers = assert_gateway_answers_as_the_champion(cli, settings, records, found["champion"])
    total = time.monotonic() - e2e.started_at
    summary("none (demo cycle)", f"stack up {up:.0f} s, 10 batches at {collected:.0f} s, champion v{found['champion']} "
            f"serving at {total:.0f} s; {answers} answers through the gateway (HTTP and faas-cli invoke) equal the "
            "champion's", "nothing")


def assert_gateway_answers_as_the_champion(cli: FaasCli, settings: Settings, records: list[dict], version: str) -> int:
    """Answers through the gateway, by HTTP (one record, a batch, CSV) and by `faas-cli invoke predict`,
    equal the champion's own predictions."""
    import mlflow
    import numpy as np
    import pandas as pd

    url = f"{cli.gateway}/function/predict"
    single = post_ok(url, json=SAMPLE)
    many = post_ok(url, json={"instances": records})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(FEATURES))
    writer.writeheader()
    writer.writerows(records)
    from_csv = post_ok(url, data=buffer.getvalue().encode(), headers={"Content-Type": "text/csv"})
    invoked = json.loads(cli("invoke", "predict", "--content-type", "application/json",
                             input=json.dumps({"instances": records})).stdout)
    for answer in (single, many, from_csv, invoked):
        assert answer["model"]["version"] == version and answer["model"]["name"] == settings.model_name

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    model = mlflow.sklearn.load_model(f"models:/{settings.model_name}@champion")
    frame = pd.DataFrame([SAMPLE, *records], columns=list(FEATURES))
    expected_classes = model.predict(frame).tolist()
    expected_proba = model.predict_proba(frame)
    served = single["predictions"] + many["predictions"]
    assert [p["cover_type"] for p in served] == expected_classes
    assert [p["cover_type"] for p in from_csv["predictions"]] == expected_classes[1:]
    assert invoked["predictions"] == many["predictions"]
    assert [p["cover_type"] for p in invoked["predictions"]] == expected_classes[1:]
    keys = [str(c) for c in model.classes_]
    served_proba = np.array([[p["probabilities"][k] for k in keys] for p in served])
    assert np.allclose(served_proba, expected_proba, atol=1e-6)
    return len(served) + len(from_csv["predictions"]) + len(invoked["predictions"])


def post_ok(url: str, **kwargs) -> dict:
    response = requests.post(url, timeout=30, **kwargs)
    assert response.status_code == 200, f"{url} answered {response.status_code}: {response.text[:300]}"
    return response.json()


@pytest.mark.asyncio
async def test_the_ui_shows_the_champion(e2e):
    """The Pipeline page, rendered by NiceGUI's simulated user over the real Backend of this stack;
    and the stack's own UI process answers."""
    from nicegui.testing.user_simulation import user_simulation

    from ui.app import build_app
    from ui.backend import Backend

    settings = e2e.settings()
    version = champion_version(settings)
    assert version, "runs after test_empty_state_to_a_serving_champion"
    family = mlflow_client(settings).get_model_version(settings.model_name, version).tags["family"]
    async with user_simulation(build_app(Backend(settings, e2e.config.url("gateway")))) as user:
        await user.open("/")
        # the first snapshot asks five services; on a busy machine it can outlast NiceGUI's
        # 3 s page timeout and then arrives by itself (one CI run saw it 0.3 s too late)
        await user.should_see(f"{BATCHES}/{BATCHES} batches stored", retries=150)
        await user.should_see(f"{family} · version {version}")
        await user.should_see("done")
    assert requests.get(e2e.config.url("ui") + "/", timeout=10).status_code == 200
    summary("none (UI)", f"Pipeline page shows {BATCHES}/{BATCHES} batches and champion {family} v{version}", "nothing")


# --- faults -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """A second pipeline from an empty state; the demo cycle's stack, done by now, is stopped first."""
    while RUNNING:
        RUNNING.pop().down()
    with pipeline_stack(tmp_path_factory.mktemp("faults")) as stack:
        yield stack


class GarbageDataApi(LoopbackServer):
    """A loopback server on the Data API's port answering everything but the contract, in turn."""

    def __init__(self, port: int, group: int, batch: int):
        bad_rows = [["not-a-number"] * len(COLUMNS)] * 5
        self.answers = [
            (500, "text/plain", b"internal error"),
            (200, "text/html", b"<html><body>maintenance</body></html>"),
            (200, "application/json", json.dumps({"group_number": group, "batch_number": batch, "data": bad_rows}).encode()),
            (200, "application/json", json.dumps({"group_number": group + 1, "batch_number": batch, "data": []}).encode()),
            (200, "application/json", b"[1, 2, 3]"),
        ]
        self.served = 0
        garbage = self

        class Handler(QuietHandler):
            def do_GET(self):
                status, kind, body = garbage.answers[garbage.served % len(garbage.answers)]
                garbage.served += 1
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler, port)


def test_data_api_errors_and_garbage(faulty):
    settings = faulty.settings()
    wait_for(lambda: stored(settings), 120, "the first batch")
    earlier = stored(settings)
    faulty.stop("data-api")
    before = [info.batch_number for info in earlier]
    cron_before = len(cron_answers(faulty))
    time.sleep(6)  # three cron ticks against a Data API that is not there
    down_answers = cron_answers(faulty)[cron_before:]
    during_down = stored_numbers(settings)
    next_batch = (during_down[-1] if during_down else 0) + 1
    with GarbageDataApi(faulty.config.ports["data-api"], settings.group_number, next_batch) as garbage:
        wait_for(lambda: garbage.served >= 2 * len(garbage.answers), 60, "fetch-batch to read every kind of garbage twice")
    garbage_answers = cron_answers(faulty)[cron_before + len(down_answers):]
    during_garbage = stored_numbers(settings)
    faulty.start("data-api")
    wait_for(lambda: len(stored(settings)) > len(during_garbage), 60, "a batch after the Data API came back")

    # a batch may have been in flight when the API stopped; nothing is stored from garbage
    assert during_down[: len(before)] == before and len(during_down) - len(before) <= 1
    assert during_garbage == during_down, "a batch was stored while the Data API answered garbage"
    assert "502" in down_answers and set(garbage_answers) <= {"502"} and garbage_answers, (down_answers, garbage_answers)
    after = stored_numbers(settings)
    assert_batches_intact(settings, list(range(1, after[-1] + 1)), earlier)
    summary("Data API down 6 s, then garbage (5xx, HTML, bad rows, wrong group, a list)",
            f"fetch-batch answered 502 ({len(down_answers)} ticks down, {len(garbage_answers)} ticks of garbage, "
            f"{garbage.served} garbage answers read); nothing stored meanwhile; batches {during_garbage[-1] + 1}.. "
            f"resumed after restart (stored {span(after)})", "nothing")


def test_minio_killed_while_fetch_batch_runs(faulty):
    settings = faulty.settings()
    earlier = stored(settings)
    before = [info.batch_number for info in earlier]
    assert len(before) < BATCHES - 2, f"too late for this fault: {before}"
    cron_before = len(cron_answers(faulty))
    faulty.ctl("signal", "KILL", "minio")
    faulty.stop("minio")  # supervisord would restart it at once: keep it down for a few cron ticks
    during = [requests.post(f"{faulty.config.url('gateway')}/function/fetch-batch", timeout=30).status_code
              for _ in range(2)]
    time.sleep(6)
    down_answers = cron_answers(faulty)[cron_before:]
    faulty.start("minio")
    wait_for(lambda: len(stored(settings)) > len(before) + 1, 60, "two batches after MinIO came back")

    assert during == [503, 503], during
    assert "503" in down_answers, down_answers
    after = stored_numbers(settings)
    assert_batches_intact(settings, list(range(1, after[-1] + 1)), earlier)
    summary("MinIO killed (SIGKILL) while cron runs fetch-batch, kept down 6 s",
            f"fetch-batch answered 503 ({down_answers.count('503')} cron ticks, 2 direct calls); "
            f"after restart batches resumed at {len(before) + 1} (stored {span(after)}), each once, checksums valid",
            "nothing")


def test_gateway_killed_while_minio_has_notifications(faulty):
    settings = faulty.settings()
    # the cron fetches through the gateway: stopped first (and a call in flight let finish),
    # so the last batch cannot land, and be delivered, between this look and the kill
    faulty.stop("cron")
    time.sleep(2)
    earlier = stored(settings)
    before = [info.batch_number for info in earlier]
    assert len(before) < BATCHES, f"too late for this fault: the 10th batch is already stored ({before})"
    faulty.ctl("signal", "KILL", "gateway")
    faulty.stop("gateway")
    # fetch-batch is driven through its own port meanwhile
    url = fetch_batch_url(faulty)

    def drive() -> bool:
        response = requests.post(url, timeout=60)
        assert response.status_code == 200, response.text[:300]
        return len(stored(settings)) == BATCHES

    wait_for(drive, 120, "ten batches through fetch-batch's own port", interval=1)
    queued = wait_for(lambda: queued_files(minio_events_dir(faulty)), 30, "MinIO to queue the undelivered events")
    assert champion_version(settings) is None and not trainings(settings)["parents"], "trained without the gateway"
    faulty.start("gateway")
    found = wait_trained_once(faulty, 240)

    assert_batches_intact(settings, list(range(1, BATCHES + 1)), earlier)
    summary("gateway killed (SIGKILL) before batches "
            f"{len(before) + 1}-{BATCHES} were stored",
            f"fetch-batch driven on its own port stored them; MinIO queued {queued} event file(s) until the "
            f"gateway came back, then delivered; one training ({found['training_ids'].pop()}), "
            f"{FAMILIES} versions, champion v{found['champion']}; all 10 batches once, checksums valid", "nothing")


def span(numbers: list[int]) -> str:
    return f"{numbers[0]}-{numbers[-1]}" if numbers else "none"
