"""shared/tracking.py's parts that need no MLflow server: tags, lineage, summaries, the alias decision."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.figure import Figure
from mlflow.exceptions import MlflowException, RestException

from shared import tracking
from shared.settings import load_settings
from shared.tracking import CHALLENGER, Lineage, TrackedCandidate
from shared.training import Candidate, Evaluation, PreparedData

LINEAGE = Lineage("covertype-batches", 6, (1, 2, 3), ("batches/group=6/batch=01.json",))
DATA = PreparedData(range(80), None, range(20), None, (1, 2), rows_loaded=120, rows_unique=100, rows_conflicting=3)


def tracked(family: str, accuracy: float, version: str, f1: float = 0.5) -> TrackedCandidate:
    evaluation = Evaluation(accuracy, f1, 0.5, 0.5, (1, 2), {}, np.array([[5, 1], [2, 7]]), "report")
    return TrackedCandidate(Candidate(family, None, 1.234, evaluation), f"run-{family}", "models:/x", "sha", version)


class Aliases:
    """Stands in for MlflowClient's alias calls: the registered model's aliases, kept in a dict."""

    def __init__(self, **aliases: str):
        self.aliases = dict(aliases)

    def get_registered_model(self, name):
        return SimpleNamespace(aliases=self.aliases)

    def set_registered_model_alias(self, name, alias, version):
        self.aliases[alias] = version


def test_flag_tags_name_each_flagged_batch_and_its_features():
    assert tracking.flag_tags(None) == {}
    assert tracking.flag_tags({"flagged_batches": {}}) == {"data_quality.flagged_batches": "none"}
    flagged = {"flagged_batches": {3: ["Elevation", "Cover_Type"], 7: ["Soil_Type"]}}
    assert tracking.flag_tags(flagged) == {"data_quality.flagged_batches": "3: Elevation Cover_Type; 7: Soil_Type"}


def test_lineage_params_are_flat():
    assert LINEAGE.params() == {"group": 6, "batches": "1,2,3", "batch_count": 3, "source": "s3://covertype-batches"}


def test_the_summary_rounds_and_lists_every_candidate():
    decision = {"alias": "champion", "reason": "first champion"}
    found = tracking.summary("t1", "parent", [tracked("random_forest", 0.912345, "4")], decision, DATA, LINEAGE)
    assert found["batches"] == [1, 2, 3] and found["decision"] == decision
    assert (found["rows_duplicate"], found["rows_train"], found["rows_holdout"]) == (20, 80, 20)
    assert found["candidates"] == [{"family": "random_forest", "version": "4", "run_id": "run-random_forest",
                                    "accuracy": 0.9123, "f1_weighted": 0.5, "fit_seconds": 1.23}]


@pytest.mark.parametrize(
    ("aliases", "old_score", "alias", "reason"),
    [
        ({}, None, "champion", "first champion"),
        ({"champion": "1"}, 0.80, "champion", "beats the champion"),
        ({"champion": "1"}, None, "champion", "previous champion could not be scored"),
        ({"champion": "1"}, 0.95, CHALLENGER, "does not beat the champion on the same holdout"),
        ({"champion": "1"}, 0.90, CHALLENGER, "does not beat the champion on the same holdout"),  # a tie keeps it
    ],
)
def test_the_best_candidate_takes_the_champion_alias_only_when_it_beats_the_champion(
        monkeypatch, aliases, old_score, alias, reason):
    monkeypatch.setattr(tracking, "rescore", lambda settings, version, data: old_score)
    client = Aliases(**aliases)
    candidates = [tracked("logistic_regression", 0.85, "2"), tracked("random_forest", 0.90, "3")]
    decision = tracking.promote(client, load_settings({}), candidates, DATA)
    assert (decision["alias"], decision["reason"], decision["best_version"]) == (alias, reason, "3")
    assert client.aliases[alias] == "3"
    if alias == CHALLENGER:
        assert client.aliases["champion"] == "1"


def test_created_tells_a_new_resource_from_an_existing_one():
    def exists(*args):
        raise RestException({"error_code": "RESOURCE_ALREADY_EXISTS", "message": "user exists"})

    def refused(*args):
        raise RestException({"error_code": "PERMISSION_DENIED", "message": "no"})

    assert tracking.created(lambda *args: None, "predict", "pw")
    assert not tracking.created(exists, "predict", "pw")
    with pytest.raises(RestException):
        tracking.created(refused, "predict", "pw")


def test_mark_failed_goes_on_when_the_tracking_server_fails():
    ended = []

    def set_terminated(run_id, status):
        if run_id == "parent":
            raise MlflowException("tracking server down")
        ended.append((run_id, status))

    tracking.mark_failed(SimpleNamespace(set_terminated=set_terminated), ["parent", "child"])
    assert ended == [("child", "FAILED")]


def test_environment_restores_os_environ_even_on_error(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "predict")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    with pytest.raises(RuntimeError), tracking.environment({"MLFLOW_TRACKING_USERNAME": "admin",
                                                             "MLFLOW_TRACKING_PASSWORD": "secret"}):
        assert (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]) == ("admin", "secret")
        raise RuntimeError("MLflow refused")
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "predict"
    assert "MLFLOW_TRACKING_PASSWORD" not in os.environ


def test_the_confusion_figure_shows_every_count_under_class_names():
    figure = tracking.confusion_figure(tracked("random_forest", 0.8, "1").candidate)
    assert isinstance(figure, Figure)
    axes = figure.axes[0]
    assert sorted(text.get_text() for text in axes.texts) == ["1", "2", "5", "7"]
    assert [label.get_text() for label in axes.get_xticklabels()] == ["1 Spruce/Fir", "2 Lodgepole Pine"]
    assert axes.get_title() == "random_forest: accuracy 0.800"
