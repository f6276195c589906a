"""The model file predict loads: only the file train-model recorded, only trusted types (no services)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import skops.io
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from infra.data_api.synthetic import generate
from shared.dataset import frame_from_rows
from shared.model_file import UntrustedModel, checksum, load_model
from shared.training import FAMILIES, prepare, train_candidate


@pytest.fixture(scope="module")
def data():
    return prepare(frame_from_rows(generate(1500, seed=3)))


@pytest.mark.parametrize("family", FAMILIES)
def test_what_training_builds_loads_with_the_trusted_types_and_predicts_the_same(data, family):
    pipeline = train_candidate(family, data).pipeline
    blob = skops.io.dumps(pipeline)
    loaded = load_model(blob, checksum(blob), family)
    # (the forest sums its trees on two threads, in either order: equal up to rounding)
    np.testing.assert_allclose(loaded.predict_proba(data.x_holdout), pipeline.predict_proba(data.x_holdout), atol=1e-12)


def test_a_file_that_does_not_match_its_checksum_is_refused(data):
    blob = skops.io.dumps(train_candidate("logistic_regression", data).pipeline)
    with pytest.raises(UntrustedModel, match="does not match the checksum"):
        load_model(blob[:-8] + bytes(8), checksum(blob), "v1")
    with pytest.raises(UntrustedModel, match="no model_sha256 tag"):
        load_model(blob, None, "v1")


def test_a_file_naming_an_untrusted_function_is_refused_even_with_a_matching_checksum():
    # what an attacker who can also write the version's tag would log: a transformer that runs a command
    hostile = Pipeline([("run", FunctionTransformer(os.system))])
    blob = skops.io.dumps(hostile)
    with pytest.raises(UntrustedModel, match=r"types predict does not trust \(.*system"):
        load_model(blob, checksum(blob), "v9")


def test_garbage_is_refused_not_a_crash():
    with pytest.raises(UntrustedModel, match="cannot be read"):
        load_model(b"not a zip", checksum(b"not a zip"), "v2")
