"""The model file: only a checksummed skops file of trusted types is loaded."""

from __future__ import annotations

import collections
import io
import zipfile

import numpy as np
import pytest
import skops.io

from infra.data_api.synthetic import generate
from shared import training
from shared.dataset import frame_from_rows
from shared.errors import UpstreamError
from shared.model_file import CHECKSUM_TAG, UntrustedModel, checksum, load_model
from shared.schema import LABEL


@pytest.fixture(scope="module")
def frame():
    return frame_from_rows(generate(60, seed=3))


def fitted(family: str, frame):
    pipeline = training.build_pipeline(family)
    pipeline.fit(training.as_api_strings(frame), frame[LABEL])
    training.forget_patched_methods(pipeline)
    return pipeline


def refusal(blob: bytes, expected: str | None) -> str:
    with pytest.raises(UntrustedModel) as caught:
        load_model(blob, expected, "champion v3")
    return caught.value.message


def test_untrusted_model_is_a_502_upstream_error():
    assert issubclass(UntrustedModel, UpstreamError)
    assert UntrustedModel("x").status == 502


def test_checksum_is_the_sha256_hex_digest():
    assert checksum(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize("expected", [None, ""])
def test_a_file_without_a_checksum_is_refused(expected):
    blob = skops.io.dumps({"a": 1})
    message = refusal(blob, expected)
    assert message.startswith("champion v3 has no") and CHECKSUM_TAG in message


def test_a_file_with_another_checksum_is_refused():
    blob = skops.io.dumps({"a": 1})
    message = refusal(blob, checksum(blob + b"x"))
    assert "does not match the checksum" in message


def test_a_file_that_is_not_a_zip_is_refused():
    blob = b"not a skops file"
    assert "cannot be read (BadZipFile)" in refusal(blob, checksum(blob))


def test_a_zip_without_a_skops_schema_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    blob = buffer.getvalue()
    assert "cannot be read" in refusal(blob, checksum(blob))


def test_a_file_holding_an_untrusted_type_is_refused():
    blob = skops.io.dumps(collections.Counter(a=1))
    assert skops.io.get_untrusted_types(data=blob) == ["collections.Counter"]  # skops does not trust it by default
    message = refusal(blob, checksum(blob))
    assert "holds types predict does not trust (collections.Counter)" in message


@pytest.mark.parametrize("family", training.FAMILIES)
def test_a_trained_pipeline_loads_and_predicts_as_the_original(family, frame):
    pipeline = fitted(family, frame)
    blob = skops.io.dumps(pipeline)
    loaded = load_model(blob, checksum(blob), "champion v3")
    assert loaded is not pipeline
    raw = training.as_api_strings(frame)
    expected = pipeline.predict(raw)
    assert len(set(expected)) > 1  # a real model, not a constant
    np.testing.assert_array_equal(loaded.predict(raw), expected)
