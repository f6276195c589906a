"""The champion model: its version loaded from MLflow's registry into a servable `Champion`.

Importing mlflow takes seconds, so serving does without it: the alias is resolved with
one REST call (`shared/registry.py`, as predict's own MLflow user, which may only read), the
skops file (`model.skops`) is fetched through MLflow's artifact proxy and loaded by
`shared.model_file` only if it matches the checksum train-model recorded and holds only
trusted types. Keeping it fresh is `shared/champion_holder.py`'s work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.model_file import CHECKSUM_TAG, MODEL_FILE, load_model
from shared.registry import Registry, VersionInfo
from shared.schema import cover_type_name

if TYPE_CHECKING:
    from shared.fast_pipeline import FastPipeline

METRIC_TAGS = ("accuracy", "f1_weighted")


@dataclass(frozen=True)
class Champion:
    info: VersionInfo
    pipeline: object
    classes: list
    labels: list[str]
    loaded_at: str
    has_proba: bool
    fast: FastPipeline | None = None  # the fast path through the pipeline, when it has one

    def describe(self) -> dict:
        tags = self.info.tags
        return {
            "name": self.info.name,
            "version": self.info.version,
            "run_id": self.info.run_id,
            "family": tags.get("family", "unknown"),
        }

    def metrics(self) -> dict:
        return {key: _float_or_none(self.info.tags.get(key)) for key in METRIC_TAGS}


def _float_or_none(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def load_pipeline(registry: Registry, info: VersionInfo):
    """The version's pipeline, refused (UntrustedModel) unless its file is the one train-model recorded."""
    blob = registry.fetch(registry.artifact_uri(info), MODEL_FILE)
    return load_model(blob, info.tags.get(CHECKSUM_TAG), f"{info.name} v{info.version}")


def load_champion(registry: Registry, info: VersionInfo) -> Champion:
    return champion_of(info, load_pipeline(registry, info))


def champion_of(info: VersionInfo, pipeline) -> Champion:
    from shared.fast_pipeline import FastPipeline  # here, not at the top: the UI and demo need no sklearn

    has_proba = hasattr(pipeline, "predict_proba")
    classes = [c.item() if hasattr(c, "item") else c for c in getattr(pipeline, "classes_", [])]
    return Champion(
        info=info, pipeline=pipeline, classes=classes,
        labels=[cover_type_name(int(c)) if _is_int(c) else str(c) for c in classes],
        loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        has_proba=has_proba,
        fast=FastPipeline.compile(pipeline) if has_proba else None,
    )


def _is_int(value: object) -> bool:
    try:
        return int(value) == value  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False
