"""The model file: how train-model writes a pipeline and predict reads it back, safely.

Models are logged in skops's format (`model.skops`), not pickle: loading a pickle runs
whatever code the file names, so anyone who could write to the artifact store could run
code inside predict. skops rebuilds only the types it is told to trust. The list is ours
(`TRUSTED_TYPES`, what `shared.training` builds beyond skops's own defaults), never the
one MLflow writes into the model's MLmodel file, which the file's author controls.

train-model also records the file's SHA-256 on the model version (tag `model_sha256`);
a file that does not match it is refused before skops even reads it.
"""

from __future__ import annotations

import hashlib
import zipfile

from shared.errors import UpstreamError

MODEL_FILE = "model.skops"  # the sklearn flavor's file name for serialization_format="skops"
CHECKSUM_TAG = "model_sha256"
# beyond skops's defaults: the cast FunctionTransformer's function, the forest's and the
# booster's trees, and the booster's early-stopping scorer
TRUSTED_TYPES = [
    "numpy.asarray",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.metrics._scorer._Scorer",
    "sklearn.metrics._classification.accuracy_score",
]


class UntrustedModel(UpstreamError):
    """A model file that does not match its recorded checksum, or holds a type we do not trust."""


def checksum(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def load_model(blob: bytes, expected_sha256: str | None, what: str):
    """The pipeline in `blob`, if it is the file train-model recorded and holds only trusted types."""
    import skops.io

    if not expected_sha256:
        raise UntrustedModel(f"{what} has no {CHECKSUM_TAG} tag (not logged by train-model): refused")
    if checksum(blob) != expected_sha256:
        raise UntrustedModel(f"{what}: {MODEL_FILE} does not match the checksum train-model recorded: refused")
    try:
        untrusted = sorted(set(skops.io.get_untrusted_types(data=blob)) - set(TRUSTED_TYPES))
        if untrusted:
            raise UntrustedModel(f"{what}: {MODEL_FILE} holds types predict does not trust ({', '.join(untrusted)}): refused")
        return skops.io.loads(blob, trusted=TRUSTED_TYPES)
    except (zipfile.BadZipFile, ValueError, KeyError, TypeError, AttributeError, ImportError) as exc:
        raise UntrustedModel(f"{what}: {MODEL_FILE} cannot be read ({type(exc).__name__}): refused") from None
