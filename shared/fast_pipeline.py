"""A numpy-only way through a fitted training pipeline, for the small requests predict serves most.

For one record, scikit-learn's own path costs milliseconds that are not the model's:
the ColumnTransformer slices a DataFrame per transformer (~2.7 ms), and the booster
calls one Cython predictor per tree (315 calls for 45 rounds x 7 classes, ~2.4 ms).
Here the preprocessing is replayed from the fitted encoders' learned attributes on
plain arrays, and, for HistGradientBoosting, all trees are walked at once as flat
numpy arrays when the request is small. Leaf values are summed in the booster's own
order, so probabilities equal its `predict_proba` exactly.

`FastPipeline.compile` accepts only the shapes `shared.training` builds (and the
plain variants tests use); anything else, and any error while compiling (a
scikit-learn internal it reads may be renamed), returns None and predict uses the
pipeline as is. It also scores a probe sample both ways and refuses itself on any
difference.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from shared.schema import CATEGORIES, FEATURES, NUMERIC_RANGES
from shared.threads import single_threaded_math

log = logging.getLogger(__name__)

TREE_WALK_MAX_ROWS = 16  # above ~24 rows the booster's own per-tree loop is faster
PROBE_ROWS = 256
PROBE_TOLERANCE = 1e-9  # dense vs sparse products may differ in the last bits; trees match exactly

Columns = dict[str, Sequence]
Block = Callable[[Columns, int], np.ndarray]


class Unsupported(Exception):
    """The pipeline has a part this module does not replay."""


class FastPipeline:
    def __init__(self, blocks: list[Block], model, trees: TreeWalk | None):
        self._blocks = blocks
        self._model = model
        self._trees = trees

    @classmethod
    def compile(cls, pipeline) -> FastPipeline | None:
        """The fast path through `pipeline`, or None (logged once, here) to score with the pipeline as is."""
        try:
            return cls._compile(pipeline)
        except Unsupported as exc:
            log.info("scoring with the pipeline as is: %s", exc)
        except Exception:  # an optimisation only: a scikit-learn internal renamed must not fail predict
            log.exception("the fast path failed to compile; scoring with the pipeline as is")
        return None

    @classmethod
    def _compile(cls, pipeline) -> FastPipeline | None:
        fast = cls._build(pipeline)
        with single_threaded_math():  # no OpenMP team in this thread: see shared.predict_service
            difference = fast._probe_difference(pipeline)
        if difference > PROBE_TOLERANCE:
            log.warning("fast path differs from the pipeline by %.3g on the probe; not used", difference)
            return None
        return fast

    @classmethod
    def _build(cls, pipeline) -> FastPipeline:
        if not isinstance(pipeline, Pipeline) or len(pipeline.steps) < 2:
            raise Unsupported("not a Pipeline that starts with a ColumnTransformer")
        preprocess, model = pipeline[0], pipeline[1:]
        if not isinstance(preprocess, ColumnTransformer):
            raise Unsupported(f"the first step is a {type(preprocess).__name__}")
        model = model[0] if len(model) == 1 else model
        if not hasattr(model, "predict_proba"):
            raise Unsupported("the model has no predict_proba")
        blocks = [_block(transformer, columns) for _, transformer, columns in preprocess.transformers_
                  if not _is_dropped(transformer, columns)]
        if "n_jobs" in model.get_params(deep=False):
            # joblib's thread pool costs ~20 ms per call here, more than the forest's 50 trees
            model.set_params(n_jobs=1)
        trees = TreeWalk(model) if isinstance(model, HistGradientBoostingClassifier) else None
        return cls(blocks, model, trees)

    def predict_proba(self, columns: Columns, count: int) -> np.ndarray:
        features = np.hstack([block(columns, count) for block in self._blocks])
        if self._trees is not None and count <= TREE_WALK_MAX_ROWS:
            return self._trees.predict_proba(features)
        return self._model.predict_proba(features)

    def _probe_difference(self, pipeline) -> float:
        columns = probe_columns(PROBE_ROWS)
        expected = pipeline.predict_proba(pd.DataFrame(columns, columns=list(FEATURES)))
        worst = 0.0
        for count in (1, TREE_WALK_MAX_ROWS, PROBE_ROWS):  # the tree walk and the booster's own loop
            got = self.predict_proba({name: values[:count] for name, values in columns.items()}, count)
            worst = max(worst, float(np.abs(got - expected[:count]).max()))
        return worst


def probe_columns(count: int, seed: int = 0) -> Columns:
    """Valid random columns, as validation hands them to scoring."""
    rng = np.random.default_rng(seed)
    columns: Columns = {}
    for name in FEATURES:
        if name in CATEGORIES:
            columns[name] = [str(value) for value in rng.choice(CATEGORIES[name], size=count)]
        else:
            low, high = NUMERIC_RANGES[name]
            columns[name] = rng.integers(low, high + 1, size=count).astype(np.float64)
    return columns


def _is_dropped(transformer, columns) -> bool:
    return (isinstance(transformer, str) and transformer == "drop") or len(columns) == 0


# --- preprocessing blocks: each returns the transformer's output columns as float64 ---

def _block(transformer, columns: Sequence[str]) -> Block:
    names = list(columns)
    if any(name not in FEATURES for name in names):
        raise Unsupported(f"columns {names} are not all features")
    steps = transformer.steps if isinstance(transformer, Pipeline) else [("only", transformer)]
    first, rest = steps[0][1], [step for _, step in steps[1:]]
    if isinstance(first, FunctionTransformer):
        return _numeric_block(first, rest, names)
    if rest:
        raise Unsupported(f"{type(first).__name__} followed by more steps")
    if isinstance(first, OrdinalEncoder):
        return _ordinal_block(first, names)
    if isinstance(first, OneHotEncoder):
        return _one_hot_block(first, names)
    raise Unsupported(f"a {type(first).__name__} in the ColumnTransformer")


def _numeric_block(cast: FunctionTransformer, rest: list, names: list[str]) -> Block:
    if cast.func is not np.asarray or cast.kw_args != {"dtype": np.float64} or cast.inverse_func is not None:
        raise Unsupported("a FunctionTransformer other than the float64 cast")
    scalers = [step for step in rest if isinstance(step, StandardScaler)]
    if len(scalers) != len(rest):
        raise Unsupported("a numeric step other than StandardScaler")

    def numeric(columns: Columns, count: int) -> np.ndarray:
        values = np.empty((count, len(names)))
        for index, name in enumerate(names):
            values[:, index] = columns[name]
        for scaler in scalers:  # the same two in-place operations StandardScaler.transform does
            if scaler.with_mean:
                values -= scaler.mean_
            if scaler.with_std:
                values /= scaler.scale_
        return values

    return numeric


def _codes(encoder) -> list[dict[str, int]]:
    if getattr(encoder, "_infrequent_enabled", False):
        raise Unsupported(f"{type(encoder).__name__} with infrequent categories")
    return [{str(category): code for code, category in enumerate(categories)} for categories in encoder.categories_]


def _ordinal_block(encoder: OrdinalEncoder, names: list[str]) -> Block:
    if encoder.handle_unknown != "use_encoded_value" or encoder.dtype is not np.float64:
        raise Unsupported("an OrdinalEncoder that errors on unknown categories or is not float64")
    codes, unknown = _codes(encoder), float(encoder.unknown_value)

    def ordinal(columns: Columns, count: int) -> np.ndarray:
        values = np.empty((count, len(names)))
        for index, (name, lookup) in enumerate(zip(names, codes, strict=True)):
            values[:, index] = [lookup.get(value, unknown) for value in columns[name]]
        return values

    return ordinal


def _one_hot_block(encoder: OneHotEncoder, names: list[str]) -> Block:
    if encoder.handle_unknown != "ignore" or encoder.drop is not None or encoder.dtype is not np.float64:
        raise Unsupported("a OneHotEncoder that drops, errors on unknown categories or is not float64")
    codes = _codes(encoder)
    offsets = np.cumsum([0] + [len(lookup) for lookup in codes])

    def one_hot(columns: Columns, count: int) -> np.ndarray:
        values = np.zeros((count, offsets[-1]))
        for name, lookup, offset in zip(names, codes, offsets, strict=False):
            for row, value in enumerate(columns[name]):
                code = lookup.get(value)
                if code is not None:  # an unknown category is all zeros, as handle_unknown="ignore" does
                    values[row, offset + code] = 1.0
        return values

    return one_hot


# --- the booster's trees, all at once ---

class TreeWalk:
    """Every tree of a HistGradientBoostingClassifier as flat arrays, walked level by level.

    A leaf points to itself, so walking `depth` levels from every root lands each
    (row, tree) pair on its leaf whatever that leaf's own depth.
    """

    def __init__(self, model: HistGradientBoostingClassifier):
        if model.is_categorical_ is not None and model.is_categorical_.any():
            raise Unsupported("the booster has native categorical features")
        predictors = [p for iteration in model._predictors for p in iteration]
        nodes = np.concatenate([p.nodes for p in predictors])
        sizes = [len(p.nodes) for p in predictors]
        self._model = model
        self._roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        self._depth = int(nodes["depth"].max())
        self._iterations = len(model._predictors)
        self._per_iteration = model.n_trees_per_iteration_
        self._feature = nodes["feature_idx"].astype(np.intp)
        self._threshold = nodes["num_threshold"]
        self._missing_left = nodes["missing_go_to_left"].astype(bool)
        self._value = nodes["value"]
        here = np.arange(len(nodes))
        leaf = nodes["is_leaf"].astype(bool)
        offsets = np.repeat(self._roots, sizes)  # a child index is relative to its own tree
        self._left = np.where(leaf, here, nodes["left"].astype(np.intp) + offsets)
        self._right = np.where(leaf, here, nodes["right"].astype(np.intp) + offsets)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        count, width = features.shape
        flat = features.ravel()
        row_start = (np.arange(count) * width)[:, None]
        node = np.broadcast_to(self._roots, (count, len(self._roots)))
        for _ in range(self._depth):
            value = flat[row_start + self._feature[node]]
            left = (value <= self._threshold[node]) | (np.isnan(value) & self._missing_left[node])
            node = np.where(left, self._left[node], self._right[node])
        leaves = self._value[node].reshape(count, self._iterations, self._per_iteration)
        raw = np.zeros((count, self._per_iteration))
        raw += self._model._baseline_prediction
        for iteration in range(self._iterations):  # the booster's summation order, for equal sums
            raw += leaves[:, iteration]
        return self._model._loss.predict_proba(raw)
