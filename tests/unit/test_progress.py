"""Reading MLflow's runs and versions, and the newest training's state: no services."""

import pytest

from shared.progress import run_summary, training_state, version_summary


def run(training_id, status, start, family="random_forest", error=""):
    return {"training_id": training_id, "status": status, "start_time": start, "family": family, "error": error}


@pytest.mark.parametrize(
    "runs, stored, state, reason",
    [
        ([], 3, "waiting", "3/10 batches stored; no training yet"),
        ([], None, "waiting", "?/10 batches stored; no training yet"),
        ([run("a", "FINISHED", 1), run("b", "RUNNING", 2)], 10, "running", "0 model(s) trained so far"),
        ([{**run("b", "RUNNING", 2), "kind": "training"}, run("b", "FINISHED", 3)], 10, "running",
         "1 model(s) trained so far"),
        ([{**run("b", "FINISHED", 2), "kind": "training"}, run("b", "FINISHED", 3)], 10, "done",
         "1 model(s) trained"),
        ([run("a", "FINISHED", 1), run("a", "FINISHED", 2)], 10, "done", "2 model(s) trained"),
        ([run("a", "FAILED", 1, "svc", "out of memory"), run("a", "FINISHED", 2)], 10, "failed", "svc: out of memory"),
        ([run("a", "KILLED", 1, "gb")], 10, "failed", "gb: killed"),
        ([run("old", "FAILED", 1), run("new", "FINISHED", 5)], 10, "done", "1 model(s) trained"),
    ],
)
def test_training_state_follows_the_newest_training(runs, stored, state, reason):
    found = training_state(runs, stored, 10)
    assert (found["state"], found["reason"]) == (state, reason)


def test_run_summary_reads_tags_metrics_and_info():
    summary = run_summary({
        "info": {"run_id": "r1", "run_name": "rf", "status": "FINISHED", "start_time": "1790000000000"},
        "data": {
            "metrics": [{"key": "accuracy", "value": 0.9}, {"key": "f1_weighted", "value": 0.8},
                        {"key": "precision_weighted", "value": 0.85}, {"key": "recall_weighted", "value": 0.9}],
            "tags": [{"key": "training_id", "value": "t1"}, {"key": "family", "value": "random_forest"}],
        },
    })
    assert summary["training_id"] == "t1" and summary["family"] == "random_forest"
    assert (summary["accuracy"], summary["f1"], summary["precision"], summary["recall"]) == (0.9, 0.8, 0.85, 0.9)
    assert summary["start_time"] == 1790000000000
    parent = run_summary({"info": {"run_id": "p", "run_name": "training-t1"},
                          "data": {"tags": [{"key": "kind", "value": "training"}]}})
    assert (parent["kind"], parent["family"], parent["accuracy"]) == ("training", "(whole training)", None)


def test_version_summary_merges_aliases_and_tag_metrics():
    summary = version_summary(
        {"version": "4", "aliases": ["challenger"], "tags": [{"key": "accuracy", "value": "0.93"},
                                                              {"key": "family", "value": "gb"}]},
        {"4": ["champion"]},
    )
    assert summary["aliases"] == ["challenger", "champion"]
    assert summary["accuracy"] == 0.93 and summary["f1"] is None and summary["family"] == "gb"
