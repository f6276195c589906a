"""shared/champion_holder.py against a fake MLflow transport: what is served while the registry moves or fails."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime

import pytest
import requests

from shared import champion_holder
from shared.champion import champion_of
from shared.champion_holder import ChampionHolder
from shared.errors import ServiceUnavailable
from shared.model_file import UntrustedModel
from shared.registry import NoChampion
from tests.unit.test_registry import FakeTransport, registry_with

NO_ALIAS = {"error_code": "RESOURCE_DOES_NOT_EXIST"}


def alias_answer(version: str) -> dict:
    """One body for every call the holder makes: the alias's version and its artifact URI."""
    tags = [{"key": "family", "value": "random_forest"}, {"key": "accuracy", "value": "0.91"}]
    return {"model_version": {"name": "covertype-classifier", "version": version, "run_id": f"run-{version}",
                              "source": "models:/x", "tags": tags},
            "artifact_uri": f"mlflow-artifacts:/1/run-{version}/artifacts/model"}


@pytest.fixture
def loaded(monkeypatch) -> list[str]:
    """The versions loaded, in order; loading builds a champion without reading a model file."""
    versions: list[str] = []

    def load(registry, info):
        versions.append(info.version)
        return champion_of(info, object())

    monkeypatch.setattr(champion_holder, "load_champion", load)
    return versions


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport(200, alias_answer("1"))


@pytest.fixture
def make_holder(transport, tmp_path, loaded):
    """Holders on the fake registry, polling every `poll_seconds`; each stopped, its poller ended, after the test."""
    registry = registry_with(transport, tmp_path)
    made: list[ChampionHolder] = []

    def make(poll_seconds: float) -> ChampionHolder:
        made.append(ChampionHolder(dataclasses.replace(registry.settings, model_poll_seconds=poll_seconds), registry))
        return made[-1]

    yield make
    for holder in made:
        holder.stop()
        if holder._poller is not None:
            holder._poller.join(1)
            assert not holder._poller.is_alive()


@pytest.fixture
def holder(make_holder) -> ChampionHolder:
    """A holder whose poller does not poll during a test: the test calls refresh() itself."""
    return make_holder(600.0)


def test_the_first_request_loads_and_later_ones_answer_from_memory(holder, transport, loaded):
    first = holder.current()
    assert first.info.version == "1" and loaded == ["1"]
    transport.fail = requests.ConnectionError
    assert holder.current() is first


def test_a_poll_swaps_in_a_new_version_and_rechecks_an_unchanged_one(holder, transport, loaded):
    holder.current()
    holder.refresh()
    transport.body = alias_answer("2")
    holder.refresh()
    assert holder.current().info.version == "2" and loaded == ["1", "2"]


def test_a_registry_outage_keeps_the_cached_champion(holder, transport):
    holder.current()
    transport.fail = requests.ConnectionError
    holder.refresh()
    assert holder.current().info.version == "1"
    status = holder.status()
    assert status["status"] == "degraded" and "not reachable" in status["error"]
    transport.fail = None
    holder.refresh()
    assert holder.status()["status"] == "ok" and "error" not in holder.status()


def test_a_refused_version_is_never_served(holder, transport, monkeypatch):
    holder.current()

    def refuse(registry, info):
        raise UntrustedModel(f"v{info.version}: model.skops does not match the checksum: refused")

    monkeypatch.setattr(champion_holder, "load_champion", refuse)
    transport.body = alias_answer("2")
    holder.refresh()
    assert holder.current().info.version == "1"
    assert holder.status()["error"] == "v2: model.skops does not match the checksum: refused"


def test_no_champion_yet_is_a_503_no_champion(holder, transport):
    transport.status, transport.body = 404, NO_ALIAS
    with pytest.raises(NoChampion) as raised:
        holder.current()
    assert raised.value.status == 503
    assert holder.status() == {"status": "no_champion", "error": raised.value.message}


def test_an_unreachable_registry_is_unavailable_and_asked_again_after_a_pause(holder, transport, monkeypatch):
    transport.fail = requests.ConnectionError
    with pytest.raises(ServiceUnavailable) as raised:
        holder.current()
    assert type(raised.value) is ServiceUnavailable and holder.status()["status"] == "unavailable"
    transport.fail = None
    with pytest.raises(ServiceUnavailable):  # within RETRY_AFTER_FAILURE: the last failure, at once
        holder.current()
    monkeypatch.setattr(champion_holder, "RETRY_AFTER_FAILURE", 0.0)
    assert holder.current().info.version == "1"


def test_status_describes_the_champion_its_metrics_and_the_last_check(holder):
    before = time.time()
    holder.current()
    status = holder.status()
    assert {key: status[key] for key in ("name", "version", "run_id", "family", "alias", "status")} == {
        "name": "covertype-classifier", "version": "1", "run_id": "run-1", "family": "random_forest",
        "alias": "champion", "status": "ok"}
    assert status["metrics"] == {"accuracy": 0.91, "f1_weighted": None}
    assert status["poll_seconds"] == 600.0
    assert datetime.fromisoformat(status["checked_at"]).timestamp() >= int(before)
    datetime.fromisoformat(status["loaded_at"])


def test_the_poller_swaps_in_a_new_version_by_itself(make_holder, transport):
    holder = make_holder(0.02)
    holder.current()
    transport.body = alias_answer("2")
    deadline = time.monotonic() + 2
    while holder.current().info.version != "2" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert holder.current().info.version == "2"


def test_a_bug_in_a_poll_is_reported_and_does_not_end_the_poller(make_holder, monkeypatch):
    holder = make_holder(0.01)
    polls = []

    def broken():
        polls.append(1)
        if len(polls) == 2:
            holder.stop()
        raise KeyError("bug")

    monkeypatch.setattr(holder, "refresh", broken)
    holder._poll()  # in this thread: returns once stopped
    assert len(polls) == 2
    assert holder.status()["error"] == "champion poll failed (KeyError); see the function's log"
