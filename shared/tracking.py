"""MLflow side of a training: one parent run, one child run per family, the registry.

Every run of one training carries the tag `training_id`; the children are nested under
a parent run named `training-<id>`. Each candidate becomes a version of the registered
model, tagged with its family, metrics and the SHA-256 of its skops file (predict refuses
a file that does not match, see `shared/model_file.py`). The best candidate takes the champion
alias (`settings.model_alias`, `champion` by default) only when it beats the current champion re-scored on the same holdout;
otherwise it takes `challenger`. If anything fails, every run of the training is marked
FAILED and no alias moves.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import sklearn
import skops
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException, RestException
from mlflow.models import infer_signature
from mlflow.telemetry import set_telemetry_client

from shared.champion import load_pipeline
from shared.errors import ServiceUnavailable, UpstreamError
from shared.model_file import CHECKSUM_TAG, MODEL_FILE, TRUSTED_TYPES, checksum
from shared.registry import Registry
from shared.schema import LABEL, cover_type_name
from shared.settings import Settings
from shared.threads import single_threaded_math
from shared.training import (
    FAMILIES,
    FAMILY_PARAMS,
    HOLDOUT_FRACTION,
    SEED,
    SELECTION_METRIC,
    Candidate,
    PreparedData,
    as_api_strings,
    best_candidate,
    importance,
    train_candidate,
)

TRACKING_ERRORS = (MlflowException,)  # what a tracking call may raise beyond the pipeline's own errors
CHALLENGER = "challenger"
MODEL_ARTIFACT = "model"
IMPORTANCE_ARTIFACT = "permutation_importance.json"  # feature -> {"mean", "std"} of the accuracy lost

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lineage:
    """Where the training data came from."""

    bucket: str
    group: int
    batches: tuple[int, ...]
    keys: tuple[str, ...]

    def params(self) -> dict[str, str | int]:
        return {
            "group": self.group,
            "batches": ",".join(str(b) for b in self.batches),
            "batch_count": len(self.batches),
            "source": f"s3://{self.bucket}",
        }


@dataclass(frozen=True)
class TrackedCandidate:
    candidate: Candidate
    run_id: str
    model_uri: str
    model_sha256: str
    version: str = ""


def configure_mlflow(settings: Settings) -> MlflowClient:
    """Point MLflow at the tracking server with bounded timeouts and retries, telemetry off, and
    this process's MLflow user (MLflow's client reads the credentials from the environment)."""
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = settings.mlflow_credentials
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    set_telemetry_client()  # re-reads the setting: a process started without it stops sending
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(max(settings.http_timeout, 60))))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    return MlflowClient(settings.mlflow_tracking_uri)


def experiment_id(client: MlflowClient, name: str) -> str:
    existing = client.get_experiment_by_name(name)
    return existing.experiment_id if existing else client.create_experiment(name)


def train_and_track(settings: Settings, data: PreparedData, lineage: Lineage, training_id: str,
                    data_quality: dict | None = None) -> dict:
    """Train every family in its own run, register them, move the aliases; a summary dict.

    `data_quality` (`shared.quality.training_summary`) is logged on the parent run, and
    its flagged batches tag every run of the training."""
    quality_tags = flag_tags(data_quality)
    client = configure_mlflow(settings)
    experiment = experiment_id(client, settings.experiment_name)
    run_ids: list[str] = []
    finished = False
    # single-threaded also for the predictions MLflow makes while logging the models
    with single_threaded_math():
        try:
            with mlflow.start_run(experiment_id=experiment, run_name=f"training-{training_id}",
                                  tags={"training_id": training_id, "kind": "training", **quality_tags}) as parent:
                run_ids.append(parent.info.run_id)
                mlflow.log_params({**lineage.params(), **data.lineage(), "seed": SEED,
                                   "holdout_fraction": HOLDOUT_FRACTION, "selection_metric": SELECTION_METRIC})
                if data_quality is not None:
                    mlflow.log_dict(data_quality, "data_quality.json")
                tracked = [track_family(family, experiment, data, lineage, training_id, run_ids, quality_tags)
                           for family in FAMILIES]
                tracked = [register(settings.model_name, t, training_id) for t in tracked]
                decision = promote(client, settings, tracked, data)
                mlflow.set_tags({f"decision.{key}": str(value) for key, value in decision.items()})
            finished = True
        finally:
            if not finished:
                mark_failed(client, run_ids)
    return summary(training_id, parent.info.run_id, tracked, decision, data, lineage)


def flag_tags(data_quality: dict | None) -> dict[str, str]:
    """`data_quality.flagged_batches`: "none", or e.g. "3: Elevation Cover_Type; 7: Soil_Type"."""
    if data_quality is None:
        return {}
    flagged = data_quality["flagged_batches"]
    return {"data_quality.flagged_batches": "; ".join(f"{n}: {' '.join(f)}" for n, f in flagged.items()) or "none"}


def track_family(family: str, experiment: str, data: PreparedData, lineage: Lineage, training_id: str,
                 run_ids: list[str], quality_tags: dict[str, str] | None = None) -> TrackedCandidate:
    tags = {"training_id": training_id, "family": family, **(quality_tags or {})}
    with mlflow.start_run(experiment_id=experiment, run_name=family, nested=True, tags=tags) as run:
        run_ids.append(run.info.run_id)
        candidate = train_candidate(family, data)
        estimator = type(candidate.pipeline.named_steps["classifier"]).__name__
        mlflow.set_tag("estimator", estimator)
        mlflow.log_params({**FAMILY_PARAMS[family], **lineage.params(), **data.lineage(),
                           "estimator": estimator, "seed": SEED})
        mlflow.log_metrics({**candidate.evaluation.metrics(), "fit_seconds": candidate.fit_seconds})
        log_inputs(data, lineage)
        log_evaluation(candidate)
        started = time.perf_counter()
        mlflow.log_dict(importance(candidate, data), IMPORTANCE_ARTIFACT)
        mlflow.log_metric("importance_seconds", time.perf_counter() - started)
        info, sha256 = log_model(candidate, data)
    return TrackedCandidate(candidate, run.info.run_id, info.model_uri, sha256)


def log_inputs(data: PreparedData, lineage: Lineage) -> None:
    source = f"s3://{lineage.bucket}/{lineage.keys[0].rsplit('/', 1)[0]}/" if lineage.keys else f"s3://{lineage.bucket}"
    name = f"group{lineage.group}-batches-{lineage.params()['batches']}"
    # the training set only: each dataset input costs a digest and REST calls; the holdout
    # is fixed by the seed and described in lineage.json
    frame = data.x_train.assign(**{LABEL: data.y_train})
    mlflow.log_input(mlflow.data.from_pandas(frame, source=source, name=name, targets=LABEL), context="training")
    mlflow.log_dict({"bucket": lineage.bucket, "group": lineage.group, "batches": list(lineage.batches),
                     "keys": list(lineage.keys), **data.lineage()}, "lineage.json")


def log_evaluation(candidate: Candidate) -> None:
    evaluation = candidate.evaluation
    mlflow.log_text(evaluation.report, "classification_report.txt")
    mlflow.log_dict({str(label): scores for label, scores in evaluation.per_class.items()}, "per_class_metrics.json")
    mlflow.log_figure(confusion_figure(candidate), "confusion_matrix.png")


def confusion_figure(candidate: Candidate) -> Figure:
    matrix = candidate.evaluation.confusion
    names = [f"{label} {cover_type_name(label)}" for label in candidate.evaluation.labels]
    figure = Figure(figsize=(7, 6), dpi=100)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes)
    axes.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(len(names)), names, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"{candidate.family}: accuracy {candidate.evaluation.accuracy:.3f}")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), count in np.ndenumerate(matrix):
        axes.text(col, row, str(count), ha="center", va="center", fontsize=7,
                  color="white" if count > threshold else "black")
    figure.tight_layout()
    return figure


def log_model(candidate: Candidate, data: PreparedData):
    example = as_api_strings(data.x_holdout.head(5))
    signature = infer_signature(example, candidate.pipeline.predict(example).astype("int64"))
    return log_skops_model(candidate.pipeline, signature=signature, input_example=example)


def log_skops_model(pipeline, **options):
    """Log `pipeline` in the active run as a skops model; (ModelInfo, SHA-256 of the stored file)."""
    info = mlflow.sklearn.log_model(
        pipeline,
        name=MODEL_ARTIFACT,
        serialization_format="skops",
        skops_trusted_types=TRUSTED_TYPES,  # MLflow loads it back once to check
        # explicit requirements: inferring them loads the model in a subprocess (slow)
        pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"numpy=={np.__version__}",
                          f"pandas=={pd.__version__}", f"skops=={skops.__version__}"],
        **options,
    )
    # the checksum of what the artifact store holds, read back, not of a local copy
    with tempfile.TemporaryDirectory() as scratch:
        stored = mlflow.artifacts.download_artifacts(f"{info.artifact_path}/{MODEL_FILE}", dst_path=scratch)
        return info, checksum(Path(stored).read_bytes())


def register(model_name: str, tracked: TrackedCandidate, training_id: str) -> TrackedCandidate:
    evaluation = tracked.candidate.evaluation
    tags = {
        "family": tracked.candidate.family,
        "accuracy": f"{evaluation.accuracy:.4f}",
        "f1_weighted": f"{evaluation.f1_weighted:.4f}",
        "training_id": training_id,
        "run_id": tracked.run_id,
        CHECKSUM_TAG: tracked.model_sha256,
    }
    version = mlflow.register_model(tracked.model_uri, model_name, tags=tags)
    return dataclasses.replace(tracked, version=str(version.version))


def current_champion(client: MlflowClient, model_name: str, alias: str) -> str | None:
    """The version the champion alias names, if any (the model is registered by now)."""
    version = client.get_registered_model(model_name).aliases.get(alias)
    return None if version is None else str(version)


def rescore(settings: Settings, version: str, data: PreparedData) -> float | None:
    """The champion's accuracy on this holdout, fed as the API sends rows; None if it cannot be used
    (its file refused as predict would refuse it, not a model of this pipeline, or MLflow or its
    artifact store not answering: then the new best takes the alias if MLflow takes the move)."""
    registry = Registry(settings)
    try:
        pipeline = load_pipeline(registry, registry.version(settings.model_name, version))
        predictions = np.asarray(pipeline.predict(as_api_strings(data.x_holdout))).astype("int64")
    except (UpstreamError, ServiceUnavailable, AttributeError, ValueError, TypeError, KeyError) as exc:
        log.warning("champion v%s cannot be re-scored: %s", version, getattr(exc, "message", exc))
        return None
    return float((predictions == data.y_holdout.to_numpy()).mean())


def promote(client: MlflowClient, settings: Settings, tracked: list[TrackedCandidate], data: PreparedData) -> dict:
    model_name, champion_alias = settings.model_name, settings.model_alias
    best = next(t for t in tracked if t.candidate is best_candidate([t.candidate for t in tracked]))
    new_score = best.candidate.evaluation.accuracy
    decision = {"best_family": best.candidate.family, "best_version": best.version, "best_accuracy": round(new_score, 4)}
    champion = current_champion(client, model_name, champion_alias)
    if champion is None:
        client.set_registered_model_alias(model_name, champion_alias, best.version)
        return {**decision, "alias": champion_alias, "reason": "first champion"}
    old_score = rescore(settings, champion, data)
    decision.update(previous_champion=champion, previous_champion_accuracy=old_score)
    if old_score is None or new_score > old_score:
        client.set_registered_model_alias(model_name, champion_alias, best.version)
        reason = "previous champion could not be scored" if old_score is None else "beats the champion"
        return {**decision, "alias": champion_alias, "reason": reason}
    client.set_registered_model_alias(model_name, CHALLENGER, best.version)
    return {**decision, "alias": CHALLENGER, "reason": "does not beat the champion on the same holdout"}


def fail_running_runs(settings: Settings, training_id: str, reason: str) -> list[str]:
    """End as FAILED, tagged `failure_reason`, every run of `training_id` still RUNNING; their ids."""
    client = configure_mlflow(settings)
    experiment = client.get_experiment_by_name(settings.experiment_name)
    if experiment is None:
        return []
    where = f"tags.training_id = '{training_id}' and attributes.status = 'RUNNING'"
    runs = client.search_runs([experiment.experiment_id], filter_string=where, max_results=1000)
    for run in runs:
        client.set_tag(run.info.run_id, "failure_reason", reason)
        client.set_terminated(run.info.run_id, status=RunStatus.to_string(RunStatus.FAILED))
    return [run.info.run_id for run in runs]


def mark_failed(client: MlflowClient, run_ids: list[str]) -> None:
    # called while another error propagates: a tracking server that is down must not mask it
    for run_id in run_ids:
        try:
            client.set_terminated(run_id, status=RunStatus.to_string(RunStatus.FAILED))
        except MlflowException:
            pass


def summary(training_id: str, parent_run_id: str, tracked: list[TrackedCandidate], decision: dict,
            data: PreparedData, lineage: Lineage) -> dict:
    return {
        "training_id": training_id,
        "parent_run_id": parent_run_id,
        "batches": list(lineage.batches),
        **data.lineage(),
        "candidates": [
            {"family": t.candidate.family, "version": t.version, "run_id": t.run_id,
             "accuracy": round(t.candidate.evaluation.accuracy, 4),
             "f1_weighted": round(t.candidate.evaluation.f1_weighted, 4),
             "fit_seconds": round(t.candidate.fit_seconds, 2)}
            for t in tracked
        ],
        "decision": decision,
    }


# --- the stack's set-up ---------------------------------------------------------------------
def set_up_users(settings: Settings, passwords: Mapping[str, str]) -> None:
    """Each role's MLflow user with its password (created, or its password set again) and
    train-model's EDIT on the experiment and the model, with the admin's credentials in
    `settings` (idempotent: a second `make up` changes nothing)."""
    user, password = settings.mlflow_credentials
    admin_env = {"MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": password,
                 "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    with environment(admin_env), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="starlette.middleware.wsgi is deprecated")  # from MLflow's server
        from mlflow.server.auth.client import AuthServiceClient

        users = AuthServiceClient(settings.mlflow_tracking_uri)
        for role, role_password in passwords.items():
            if not created(users.create_user, role, role_password):
                users.update_user_password(role, role_password)
        experiment = experiment_id(MlflowClient(settings.mlflow_tracking_uri), settings.experiment_name)
        for kind, resource in (("experiment", experiment), ("registered_model", settings.model_name)):
            created(users.grant_user_permission, "train-model", kind, resource, "EDIT")


def created(create: Callable[..., object], *args: str) -> bool:
    """Calls `create(*args)`; False when MLflow says it exists already."""
    try:
        create(*args)
    except RestException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return False
    return True


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ for the block (MLflow's clients read their credentials there)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
