"""shared/champion.py without MLflow: a fitted pipeline becomes a servable Champion."""

from __future__ import annotations

import pandas as pd
import pytest
import skops.io
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from shared.champion import Champion, _float_or_none, champion_of, load_champion
from shared.model_file import CHECKSUM_TAG, MODEL_FILE, UntrustedModel, checksum
from shared.registry import VersionInfo
from shared.schema import COVER_TYPE_NAMES, FEATURES
from tests.predict_support import build_pipeline, sample_records, synthetic_frame

ARTIFACTS = "mlflow-artifacts:/1/run/artifacts/model"


@pytest.fixture(scope="module")
def pipeline():
    return build_pipeline("random_forest", seed=1, rows=600)


def version(**tags: str) -> VersionInfo:
    return VersionInfo("covertype-classifier", "4", "run-4", "models:/m/4", tags)


class ArtifactStore:
    """Stands in for the registry's artifact proxy: one stored file per (artifact URI, name)."""

    def __init__(self, files: dict[tuple[str, str], bytes]):
        self.files = files

    def artifact_uri(self, info: VersionInfo) -> str:
        return ARTIFACTS

    def fetch(self, artifact_uri: str, filename: str) -> bytes:
        return self.files[(artifact_uri, filename)]


def test_a_probabilistic_pipeline_serves_with_names_and_a_fast_path(pipeline):
    champion = champion_of(version(), pipeline)
    assert champion.classes == pipeline.classes_.tolist() and all(type(c) is int for c in champion.classes)
    assert champion.labels == [COVER_TYPE_NAMES[c] for c in champion.classes]
    assert champion.has_proba and champion.fast is not None


def test_string_classes_are_their_own_labels(pipeline):
    frame, labels = synthetic_frame(300, seed=2)
    named = clone(pipeline).fit(frame, [f"kind-{label}" for label in labels])
    champion = champion_of(version(), named)
    assert champion.labels == champion.classes == sorted({f"kind-{label}" for label in labels})


def test_a_pipeline_without_probabilities_has_no_fast_path():
    frame, labels = synthetic_frame(200, seed=3)
    numeric = [name for name in FEATURES if name not in ("Wilderness_Area", "Soil_Type")]
    svm = Pipeline([("svm", LinearSVC())]).fit(frame[numeric], labels)
    champion = champion_of(version(), svm)
    assert not champion.has_proba and champion.fast is None
    assert champion.labels[0] == COVER_TYPE_NAMES[champion.classes[0]]


def test_describe_and_metrics_read_the_version_tags(pipeline):
    champion = champion_of(version(family="random_forest", accuracy="0.9312", f1_weighted="n/a"), pipeline)
    assert champion.describe() == {"name": "covertype-classifier", "version": "4", "run_id": "run-4",
                                   "family": "random_forest"}
    assert champion.metrics() == {"accuracy": 0.9312, "f1_weighted": None}
    assert champion_of(version(), pipeline).describe()["family"] == "unknown"


@pytest.mark.parametrize(("raw", "value"), [("0.5", 0.5), ("1", 1.0), (None, None), ("", None), ("high", None)])
def test_float_or_none(raw, value):
    assert _float_or_none(raw) == value


def test_the_recorded_skops_file_loads_into_a_champion_that_predicts_like_the_original(pipeline):
    blob = skops.io.dumps(pipeline)
    store = ArtifactStore({(ARTIFACTS, MODEL_FILE): blob})
    champion = load_champion(store, version(**{CHECKSUM_TAG: checksum(blob)}))
    assert isinstance(champion, Champion) and champion.info.version == "4"
    frame = pd.DataFrame(sample_records(20, seed=9), columns=list(FEATURES))
    assert (champion.pipeline.predict(frame) == pipeline.predict(frame)).all()


def test_a_file_that_is_not_the_recorded_one_is_refused(pipeline):
    blob = skops.io.dumps(pipeline)
    store = ArtifactStore({(ARTIFACTS, MODEL_FILE): blob + b" "})
    with pytest.raises(UntrustedModel, match="covertype-classifier v4: .* does not match the checksum"):
        load_champion(store, version(**{CHECKSUM_TAG: checksum(blob)}))
