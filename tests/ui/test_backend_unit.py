"""The backend's pure parts: batch summaries, chart and form helpers (MLflow's answers: tests/unit/test_progress.py)."""

import pytest

from shared.errors import InvalidInput
from ui.backend import batch_summary
from ui.experiments_page import comparison_chart_options
from ui.predict_page import probability_pairs, range_rules
from ui.widgets import describe, fmt_time


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


@pytest.mark.parametrize("answered, error, message", [
    (403, "Unauthorized", "wrong admin user or password"),
    (401, "Unauthorized", "wrong admin user or password"),
    (404, "BadRequest", "version 7 of covertype-classifier does not exist"),
])
def test_promote_names_what_mlflow_refused(tmp_path, answered, error, message):
    from shared import errors
    from shared.settings import load_settings
    from tests.unit.test_registry import BASE, FakeTransport
    from ui.backend import Backend

    backend = Backend(load_settings({"MLFLOW_TRACKING_URI": BASE, "SECRETS_DIR": str(tmp_path)}), "http://127.0.0.1:9")
    backend.mlflow.http.mount(BASE, FakeTransport(answered))
    with pytest.raises(getattr(errors, error), match=message) as raised:
        backend.promote("7", "admin", "typed")
    assert type(raised.value) is getattr(errors, error)
