"""The backend's pure parts: reading MLflow's answers, training state, chart and form helpers."""

import pytest

from shared.errors import InvalidInput
from ui.backend import batch_summary, run_summary, training_state, version_summary
from ui.experiments_page import comparison_chart_options
from ui.predict_page import probability_pairs, range_rules
from ui.widgets import describe, fmt_time


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


def test_chart_has_one_series_per_score_and_one_bar_per_run():
    runs = [{"family": "rf", "training_id": "abcdefghij", "start_time": 1, "accuracy": 0.9, "f1": 0.8,
             "precision": None, "recall": 0.7}]
    options = comparison_chart_options(runs)
    assert [s["name"] for s in options["series"]] == ["Accuracy", "F1 (weighted)", "Precision", "Recall"]
    assert options["xAxis"]["data"] == ["rf\n…efghij"]
    assert [s["data"] for s in options["series"]] == [[0.9], [0.8], [None], [0.7]]


@pytest.mark.parametrize(
    "value, failing",
    [(2959, []), (None, ["Required"]), (1499, ["Between 1500 and 4500"]), (2000.5, ["Whole number"])],
)
def test_range_rules_name_what_is_wrong(value, failing):
    assert [message for message, rule in range_rules("Elevation").items() if not rule(value)] == failing


def test_probabilities_show_class_names():
    assert probability_pairs({"probabilities": {"1": 0.25, "7": 0.75}}) == [("Spruce/Fir (1)", 0.25),
                                                                          ("Krummholz (7)", 0.75)]


def test_errors_are_described_with_their_fields():
    error = InvalidInput("2 invalid value(s)", details=[{"row": 0, "field": "Slope", "error": "over 90"},
                                                        {"field": "body", "error": "empty"}])
    assert describe(error) == "2 invalid value(s) (row 0 Slope: over 90; body: empty)"


@pytest.mark.parametrize(
    "value, shown",
    [(None, "-"), (0, "1970-01-01 00:00:00 UTC"), ("2026-11-27T05:03:00Z", "2026-11-27 05:03:00 UTC"),
     ("not a time", "not a time")],
)
def test_times_are_shown_in_utc(value, shown):
    assert fmt_time(value) == shown


def test_batch_summary_reads_shared_batch_info():
    from shared.batches import BatchInfo

    info = BatchInfo(3, "batches/group=6/batch=03.json", 5810, "2026-11-27T05:03:00+00:00", "http://api", "abc")
    assert batch_summary(info) == {"number": 3, "key": "batches/group=6/batch=03.json", "rows": 5810,
                                   "fetched_at": "2026-11-27T05:03:00+00:00", "source": "http://api"}


def test_health_never_probes_a_data_api_off_this_machine(monkeypatch):
    from shared.settings import load_settings
    from ui import backend as backend_module

    monkeypatch.setattr(backend_module, "CHECKS", {})
    local = backend_module.Backend(load_settings({"DATA_API_URL": "http://127.0.0.1:9"}), "http://127.0.0.1:9")
    remote = backend_module.Backend(load_settings({"DATA_API_URL": "http://data-api.course.example"}), "http://127.0.0.1:9")
    assert set(local.health()) == {"gateway", "data-api"}
    assert set(remote.health()) == {"gateway"}
