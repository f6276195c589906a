"""The three candidate families, trained and scored on the stored batches; no MLflow here.

Each candidate is one scikit-learn `Pipeline` whose first step turns raw Data API rows
(every value a string) into model inputs, so the registered model predicts on exactly
what the API sends, minus the label. `shared/tracking.py` records what this produces.

Duplicates: the real API repeats rows across batches. Rows are de-duplicated on the 12
features *before* the split (keeping the first label seen), so the holdout never holds a
feature vector that training also saw; rows whose features repeat with another label
are counted as conflicting and reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    precision_recall_fscore_support,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from shared.errors import PipelineError
from shared.schema import CATEGORICAL_FEATURES, FEATURES, LABEL, NUMERIC_FEATURES
from shared.threads import single_threaded_math

SEED = 42
HOLDOUT_FRACTION = 0.2
SELECTION_METRIC = "accuracy"
# permutation importance: holdout rows it scores and shuffles per feature (bounded so it
# adds seconds, not minutes, to a training)
IMPORTANCE_ROWS = 2000
IMPORTANCE_REPEATS = 3

# family -> hyper-parameters of its classifier (logged as run parameters)
FAMILY_PARAMS: dict[str, dict] = {
    "logistic_regression": {"C": 1.0, "max_iter": 300, "solver": "lbfgs"},
    # bounded so the stored model stays small (a few MB) and loads fast in predict
    "random_forest": {"n_estimators": 50, "max_depth": 20, "min_samples_leaf": 6, "n_jobs": 2},
    # scikit-learn's histogram-based booster, 40x faster here than GradientBoostingClassifier;
    # early stopping on the accuracy of an inner validation split keeps it from overfitting
    # noisy labels (without it, 80 rounds scored 0.85 against 0.90 at ~40)
    "hist_gradient_boosting": {
        "max_iter": 300, "learning_rate": 0.1, "max_leaf_nodes": 31,
        "early_stopping": True, "scoring": "accuracy", "validation_fraction": 0.1, "n_iter_no_change": 20,
    },
}
FAMILIES: tuple[str, ...] = tuple(FAMILY_PARAMS)
ESTIMATOR_CLASSES = {
    "logistic_regression": LogisticRegression,
    "random_forest": RandomForestClassifier,
    "hist_gradient_boosting": HistGradientBoostingClassifier,
}


class NotEnoughData(PipelineError):
    """The stored batches cannot give a training set and a holdout."""

    status = 422


@dataclass(frozen=True)
class PreparedData:
    x_train: pd.DataFrame
    y_train: pd.Series
    x_holdout: pd.DataFrame
    y_holdout: pd.Series
    labels: tuple[int, ...]
    rows_loaded: int
    rows_unique: int
    rows_conflicting: int

    def lineage(self) -> dict[str, int]:
        return {
            "rows_loaded": self.rows_loaded,
            "rows_unique": self.rows_unique,
            "rows_duplicate": self.rows_loaded - self.rows_unique,
            "rows_conflicting": self.rows_conflicting,
            "rows_train": len(self.x_train),
            "rows_holdout": len(self.x_holdout),
        }


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    f1_weighted: float
    precision_weighted: float
    recall_weighted: float
    labels: tuple[int, ...]
    per_class: dict[int, dict[str, float]]
    confusion: np.ndarray
    report: str

    def metrics(self) -> dict[str, float]:
        flat = {
            "accuracy": self.accuracy,
            "f1_weighted": self.f1_weighted,
            "precision_weighted": self.precision_weighted,
            "recall_weighted": self.recall_weighted,
        }
        for label, scores in self.per_class.items():
            flat.update({f"{name}_class_{label}": value for name, value in scores.items()})
        return flat


@dataclass(frozen=True)
class Candidate:
    family: str
    pipeline: Pipeline
    fit_seconds: float
    evaluation: Evaluation


def prepare(frame: pd.DataFrame, seed: int = SEED, holdout_fraction: float = HOLDOUT_FRACTION) -> PreparedData:
    """De-duplicate, then split into a stratified training set and holdout."""
    unique = frame.drop_duplicates(subset=list(FEATURES), keep="first")
    conflicting = len(frame.drop_duplicates()) - len(unique)
    labels = unique[LABEL].astype("int64")
    counts = labels.value_counts()
    if len(counts) < 2 or len(unique) < 20:
        raise NotEnoughData(
            f"training needs at least 20 distinct rows of 2 classes; the batches hold {len(unique)} "
            f"distinct rows of {len(counts)} class(es)"
        )
    # a class seen once cannot be stratified: it goes to training only
    rare = labels.isin(counts[counts < 2].index)
    common = unique[~rare]
    x_train, x_holdout, y_train, y_holdout = train_test_split(
        common[list(FEATURES)], labels[~rare], test_size=holdout_fraction, random_state=seed, stratify=labels[~rare]
    )
    x_train = pd.concat([x_train, unique.loc[rare, list(FEATURES)]])
    y_train = pd.concat([y_train, labels[rare]])
    return PreparedData(
        x_train=x_train, y_train=y_train, x_holdout=x_holdout, y_holdout=y_holdout,
        labels=tuple(int(label) for label in sorted(counts.index)),
        rows_loaded=len(frame), rows_unique=len(unique), rows_conflicting=conflicting,
    )


def as_api_strings(features: pd.DataFrame) -> pd.DataFrame:
    """The feature columns as the Data API sends them: every value a string."""
    return features[list(FEATURES)].astype(str)


def cast_numbers() -> FunctionTransformer:
    # numpy.asarray is stored by reference (a trusted type, shared/model_file.py): no code of ours to load
    return FunctionTransformer(np.asarray, kw_args={"dtype": np.float64}, feature_names_out="one-to-one")


def preprocessing(family: str) -> ColumnTransformer:
    """Raw (string or typed) features -> numbers: casts inside, unseen categories ignored."""
    if family == "hist_gradient_boosting":
        # trees need no scaling; categories become ordinal codes (the booster's native
        # categorical mode was 15x slower here for no gain), an unseen one becomes "missing"
        numeric = cast_numbers()
        categorical = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan)
    else:
        numeric = Pipeline([("cast", cast_numbers()), ("scale", StandardScaler())])
        categorical = OneHotEncoder(handle_unknown="ignore")
    return ColumnTransformer(
        [("numeric", numeric, list(NUMERIC_FEATURES)), ("categorical", categorical, list(CATEGORICAL_FEATURES))],
        # the forest fits 5x faster on a dense matrix; the linear model is fine with sparse
        sparse_threshold=0.0 if family == "random_forest" else 0.3,
    )


def build_pipeline(family: str, seed: int = SEED) -> Pipeline:
    classifier = ESTIMATOR_CLASSES[family](random_state=seed, **FAMILY_PARAMS[family])
    return Pipeline([("preprocess", preprocessing(family)), ("classifier", classifier)])


def evaluate(model, x_holdout: pd.DataFrame, y_holdout: pd.Series, labels: tuple[int, ...]) -> Evaluation:
    predicted = np.asarray(model.predict(x_holdout)).astype("int64")
    label_list = list(labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_holdout, predicted, labels=label_list, zero_division=0
    )
    weighted = precision_recall_fscore_support(
        y_holdout, predicted, labels=label_list, average="weighted", zero_division=0
    )
    per_class = {
        label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": float(s)}
        for label, p, r, f, s in zip(label_list, precision, recall, f1, support, strict=True)
    }
    return Evaluation(
        accuracy=float(accuracy_score(y_holdout, predicted)),
        precision_weighted=float(weighted[0]),
        recall_weighted=float(weighted[1]),
        f1_weighted=float(weighted[2]),
        labels=labels,
        per_class=per_class,
        confusion=confusion_matrix(y_holdout, predicted, labels=label_list),
        report=classification_report(y_holdout, predicted, labels=label_list, digits=4, zero_division=0),
    )


def train_candidate(family: str, data: PreparedData, seed: int = SEED) -> Candidate:
    pipeline = build_pipeline(family, seed)
    with single_threaded_math():
        started = time.perf_counter()
        pipeline.fit(data.x_train, data.y_train)
        fit_seconds = time.perf_counter() - started
        forget_patched_methods(pipeline)
        evaluation = evaluate(pipeline, data.x_holdout, data.y_holdout, data.labels)
    return Candidate(family, pipeline, fit_seconds, evaluation)


def importance(candidate: Candidate, data: PreparedData, rows: int = IMPORTANCE_ROWS,
               repeats: int = IMPORTANCE_REPEATS, seed: int = SEED) -> dict[str, dict[str, float]]:
    """Feature -> mean and sd of the accuracy lost when its holdout values are shuffled."""
    sample = data.x_holdout.sample(n=min(rows, len(data.x_holdout)), random_state=seed)
    with single_threaded_math():
        result = permutation_importance(candidate.pipeline, sample, data.y_holdout.loc[sample.index],
                                        scoring=SELECTION_METRIC, n_repeats=repeats, random_state=seed)
    return {feature: {"mean": float(mean), "std": float(std)}
            for feature, mean, std in zip(sample.columns, result.importances_mean, result.importances_std, strict=True)}


def forget_patched_methods(pipeline: Pipeline) -> None:
    """scikit-learn 1.9's booster leaves its own `_raw_predict` bound method on the instance after an
    early-stopping fit (the class's method, put back by `_patch_raw_predict`). skops cannot store a
    method bound to the object that holds it (RecursionError); without it the class's method serves."""
    for _, step in pipeline.steps:
        vars(step).pop("_raw_predict", None)


def best_candidate(candidates: list[Candidate]) -> Candidate:
    return max(candidates, key=lambda c: (c.evaluation.accuracy, c.evaluation.f1_weighted))
