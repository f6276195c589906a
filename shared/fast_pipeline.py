"""A faster way through a fitted training pipeline, for every request predict serves.

scikit-learn's own path costs milliseconds that are not the model's: the
ColumnTransformer slices a DataFrame per transformer (~2.7 ms for one record), and the
booster calls one Cython predictor per tree (315 calls for 45 rounds x 7 classes,
~2.2 ms for one record). Here the preprocessing is replayed from the fitted encoders'
learned attributes on plain arrays, and, for HistGradientBoosting, every tree is walked
by one compiled numba kernel. Leaf values are summed in the booster's own order, so
probabilities equal its `predict_proba` exactly.

`FastPipeline.compile` accepts only the shapes `shared.training` builds (and the
plain variants tests use); anything else, and any error while compiling (a
scikit-learn internal it reads may be renamed), returns None and predict uses the
pipeline as is. It also scores a probe sample both ways and refuses itself on any
difference.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from shared.schema import CATEGORIES, FEATURES, NUMERIC_RANGES
from shared.threads import single_threaded_math

log = logging.getLogger(__name__)

SPLIT_MIN_ROWS = 256  # from here the trees walk two halves at once (256 rows: 2.8 ms in one thread, 1.5 in two)
PROBE_ROWS = 256
PROBE_TOLERANCE = 1e-9  # dense vs sparse products may differ in the last bits; trees match exactly

Columns = dict[str, Sequence]
Block = Callable[[Columns, int], np.ndarray]


class Unsupported(Exception):
    """The pipeline has a part this module does not replay."""


class FastPipeline:
    def __init__(self, blocks: list[Block], model, trees: CompiledTrees | None):
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
        trees = CompiledTrees(model) if isinstance(model, HistGradientBoostingClassifier) else None
        return cls(blocks, model, trees)

    def predict_proba(self, columns: Columns, count: int) -> np.ndarray:
        features = np.hstack([block(columns, count) for block in self._blocks])
        if self._trees is not None:
            return self._trees.predict_proba(features)
        return self._model.predict_proba(features)

    def _probe_difference(self, pipeline) -> float:
        columns = probe_columns(PROBE_ROWS)
        expected = pipeline.predict_proba(pd.DataFrame(columns, columns=list(FEATURES)))
        worst = 0.0
        for count in (1, PROBE_ROWS):  # the compiled trees in one thread and in two
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


# --- the booster's trees, compiled ---

@numba.njit(nogil=True, cache=True)
def _add_leaf_values(features, roots, feature, threshold, missing_left, children, is_leaf, value,
                     per_iteration, raw):
    """Add every tree's leaf value for every row to `raw`, tree by tree in the booster's order.

    Tree by tree keeps one small tree in cache while the rows go through it; the booster
    sums each class column in the same order, so the sums are equal to the last bit.
    """
    for tree in range(roots.shape[0]):
        column = tree % per_iteration
        for row in range(features.shape[0]):
            node = roots[tree]
            while not is_leaf[node]:
                x = features[row, feature[node]]
                go_left = x <= threshold[node] or (np.isnan(x) and missing_left[node])
                node = children[node, 1 if go_left else 0]
            raw[row, column] += value[node]


class CompiledTrees:
    """Every tree of a HistGradientBoostingClassifier as flat arrays, walked by a numba kernel.

    The booster's own predict calls one Cython loop per tree (315 for 45 rounds x 7
    classes) with an OpenMP team each time: 2.2 ms for one row, 8.5 ms for 1,000 on two
    cores. The kernel takes 0.03 ms and 5.4 ms (two halves on two threads where the
    process may use two cores), without the GIL, so the rest of the process goes on.
    """

    def __init__(self, model: HistGradientBoostingClassifier):
        if model.is_categorical_ is not None and model.is_categorical_.any():
            raise Unsupported("the booster has native categorical features")
        predictors = [p for iteration in model._predictors for p in iteration]
        nodes = np.concatenate([p.nodes for p in predictors])
        sizes = [len(p.nodes) for p in predictors]
        self._model = model
        self._per_iteration = model.n_trees_per_iteration_
        self._split = len(os.sched_getaffinity(0)) > 1
        roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        offsets = np.repeat(roots, sizes)  # a child index is relative to its own tree
        self._arrays = (
            roots,
            nodes["feature_idx"].astype(np.intp),
            nodes["num_threshold"].astype(np.float64),
            nodes["missing_go_to_left"].astype(np.bool_),
            np.stack([nodes["right"], nodes["left"]], axis=1).astype(np.intp) + offsets[:, None],
            nodes["is_leaf"].astype(np.bool_),
            nodes["value"].astype(np.float64),
        )

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        features = np.ascontiguousarray(features, dtype=np.float64)
        raw = np.empty((len(features), self._per_iteration))
        raw[:] = self._model._baseline_prediction
        if len(features) < SPLIT_MIN_ROWS or not self._split:
            self._walk(features, raw)
        else:  # the second half on the helper thread, the first here
            half = len(features) // 2
            second = _helper().submit(self._walk, features[half:], raw[half:])
            self._walk(features[:half], raw[:half])
            second.result()
        return self._model._loss.predict_proba(raw)

    def _walk(self, features: np.ndarray, raw: np.ndarray) -> None:
        _add_leaf_values(features, *self._arrays, self._per_iteration, raw)


@functools.cache
def _helper() -> ThreadPoolExecutor:
    """The one thread that walks the second half of a large request."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="tree-walk")
