"""The UI's backend against the real MLflow, MinIO and MySQL of the session stack."""

import dataclasses
import time
import uuid
from pathlib import Path

import pytest

from shared.errors import BadRequest, ServiceUnavailable, Unauthorized
from tests.conftest import free_port
from tests.predict_support import register_model
from tests.ui.fake_backend import PNG
from ui.backend import Backend

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def model_name(stack, tmp_path_factory) -> str:
    """Two registered versions (v1 champion, v2 not), the champion's run with a confusion-matrix PNG."""
    from mlflow import MlflowClient

    name = f"ui-backend-{uuid.uuid4().hex[:8]}"
    tracking = stack.config.url("mlflow")
    version, _ = register_model(tracking, name, family="logistic_regression", alias="champion")
    register_model(tracking, name, family="random_forest", seed=1, alias=None)
    client = MlflowClient(tracking)
    run_id = client.get_model_version(name, version).run_id
    png = Path(tmp_path_factory.mktemp("png")) / "confusion_matrix.png"
    png.write_bytes(PNG)
    client.log_artifact(run_id, str(png))
    return name


@pytest.fixture
def backend(settings, model_name) -> Backend:
    ours = dataclasses.replace(settings, model_name=model_name, experiment_name=f"{model_name}-experiment")
    return Backend(ours, f"http://127.0.0.1:{free_port()}")  # no gateway listens there


def test_health_names_what_is_down(backend):
    health = backend.health()
    assert health["mysql"] is None and health["minio"] is None and health["mlflow"] is None
    assert health["gateway"].startswith("gateway at http://127.0.0.1:")
    assert "not reachable" in health["gateway"]


def test_runs_versions_and_champion_come_from_mlflow(backend):
    runs = backend.runs()
    assert len(runs) == 2 and {run["status"] for run in runs} == {"FINISHED"}
    versions = backend.versions()
    assert [(v["version"], v["aliases"], v["family"]) for v in versions] == [
        ("2", [], "random_forest"), ("1", ["champion"], "logistic_regression")
    ]
    champion = backend.champion()
    assert champion["version"] == "1" and champion["accuracy"] == 0.9
    assert backend.confusion_matrix(champion["run_id"]) == PNG
    assert backend.training_state(10)["state"] == "done"


def test_promote_needs_the_admin_credentials(backend, settings):
    with pytest.raises(Unauthorized):
        backend.promote("2", "admin", "not-the-password")
    with pytest.raises(BadRequest, match="version 99"):
        backend.promote("99", settings.secret("basic-auth-user"), settings.secret("basic-auth-password"))
    backend.promote("2", settings.secret("basic-auth-user"), settings.secret("basic-auth-password"))
    assert backend.champion()["version"] == "2"
    backend.promote("1", settings.secret("basic-auth-user"), settings.secret("basic-auth-password"))


def test_mlflow_down_is_named_within_seconds(settings):
    down = Backend(dataclasses.replace(settings, mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}"),
                   "http://127.0.0.1:9")
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="MLflow at http://127.0.0.1:"):
        down.runs()
    assert time.monotonic() - started < 5


def test_gateway_down_is_named(backend):
    with pytest.raises(ServiceUnavailable, match="gateway at http://127.0.0.1:"):
        backend.predict({"Elevation": 2959})
