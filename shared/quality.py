"""Data quality and drift of a batch, kept beside it in MinIO.

Key:  quality/group=<G>/batch=<BB>.json (in the batch bucket, outside BATCH_PREFIX, so
      MinIO's notification to train-model does not fire for it)
Body: rows, rows repeated within the batch and against earlier batches, class shares,
      per-column missing / invalid counts and ranges, and drift per feature against
      (a) the batches stored before it and (b) the batches the champion was trained on:
      population stability index (PSI) for numeric features, Jensen-Shannon distance
      (base 2, 0..1) for the categorical ones and the class shares. A batch is flagged
      when a feature passes DRIFT_PSI_THRESHOLD or DRIFT_JS_THRESHOLD in either comparison.

fetch-batch computes it when it stores a batch; `python -m shared.quality` recomputes it
for every stored batch of the group. Noise grows as batches shrink: the default
thresholds suit batches of thousands of rows (the Data API's are 5,810).
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr

from shared import batches, storage
from shared.errors import PipelineError, ServiceUnavailable, UpstreamError
from shared.registry import Registry
from shared.schema import CATEGORICAL_FEATURES, CATEGORIES, COLUMNS, LABEL, NUMERIC_FEATURES, NUMERIC_RANGES
from shared.settings import QUALITY_PREFIX, Settings

PSI_BINS = 10  # quantile bins of the reference
SHARE_FLOOR = 1e-4  # an empty bin's share, so PSI stays finite
DRIFTED = NUMERIC_FEATURES + CATEGORICAL_FEATURES + (LABEL,)  # the class shares drift too


@dataclass(frozen=True)
class Reference:
    """Rows to compare a batch with (typed, see `typed`), and where they came from."""

    name: str  # "earlier" or "champion"
    batches: tuple[int, ...]
    frame: pd.DataFrame | None  # None: nothing to compare with
    version: str = ""
    note: str = ""  # why there is nothing to compare with


# (bucket/key, checksum) -> the batch typed: a stored batch never changes, and fetch-batch's
# process lives on between calls, so each call parses only the batch it stored
TYPED_CACHE: OrderedDict[tuple[str, str], pd.DataFrame] = OrderedDict()
TYPED_CACHE_SIZE = 40


@dataclass(frozen=True)
class Stored:
    """The group's stored batches, read from MinIO when first needed."""

    settings: Settings
    group: int
    infos: dict[int, batches.BatchInfo]

    def rows(self, number: int) -> list[list[str]]:
        return batches.load_batch(self.settings, self.group, number)["rows"]

    def frame(self, numbers: Sequence[int]) -> pd.DataFrame | None:
        frames = []
        for number in numbers:
            info = self.infos[number]
            key = (f"{self.settings.batch_bucket}/{info.key}", info.checksum_sha256)
            if key not in TYPED_CACHE:
                TYPED_CACHE[key] = typed(self.rows(number))[0]
                while len(TYPED_CACHE) > TYPED_CACHE_SIZE:
                    TYPED_CACHE.popitem(last=False)
            frames.append(TYPED_CACHE[key])
        return pd.concat(frames, ignore_index=True) if frames else None


# --- the statistics ---------------------------------------------------------------------
def psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index of `current` against `reference` on the reference's quantile bins."""
    inner_edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    expected = bin_shares(reference, inner_edges)
    actual = bin_shares(current, inner_edges)
    # sum (a - e) ln(a / e) = KL(a || e) + KL(e || a)
    return float(np.sum(rel_entr(actual, expected) + rel_entr(expected, actual)))


def bin_shares(values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    # bin i holds edges[i-1] < v <= edges[i]: ties at a quantile stay in one bin
    counts = np.bincount(np.searchsorted(inner_edges, values, side="left"), minlength=len(inner_edges) + 1)
    return np.maximum(counts / max(len(values), 1), SHARE_FLOOR)


def js_distance(reference: pd.Series, current: pd.Series) -> float:
    """Jensen-Shannon distance (base 2) between the two value distributions."""
    categories = sorted(set(reference) | set(current))
    expected = reference.value_counts().reindex(categories, fill_value=0).to_numpy(dtype=float)
    actual = current.value_counts().reindex(categories, fill_value=0).to_numpy(dtype=float)
    return float(jensenshannon(expected, actual, base=2))


def drift(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, float]:
    """Feature (and Cover_Type) -> PSI or JS distance of `current` against `reference`; valid values only."""
    values = {}
    for column in DRIFTED:
        ref, cur = reference[column].dropna(), current[column].dropna()
        if ref.empty or cur.empty:
            continue
        values[column] = psi(ref.to_numpy(float), cur.to_numpy(float)) if column in NUMERIC_FEATURES \
            else js_distance(ref, cur)
    return {column: round(value, 6) for column, value in values.items()}


# --- one batch --------------------------------------------------------------------------
def typed(rows: Sequence[Sequence[str]]) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Valid values typed (NaN where missing or invalid), and each column's checks."""
    raw = np.array([list(row)[:len(COLUMNS)] for row in rows], dtype=object).reshape(-1, len(COLUMNS))
    missing = pd.isna(raw) | (raw == "")
    text = raw.astype(str)
    numeric = [i for i, column in enumerate(COLUMNS) if column not in CATEGORIES]
    numbers = dict(zip(numeric, to_numbers(text[:, numeric]).T, strict=True))
    frame = pd.DataFrame(index=range(len(raw)))
    checks = {}
    for i, column in enumerate(COLUMNS):
        if column in CATEGORIES:
            valid = np.isin(text[:, i], CATEGORIES[column])
            frame[column] = pd.Series(text[:, i], dtype=object).where(valid)
        else:
            low, high = NUMERIC_RANGES.get(column, (0, np.inf))
            valid = (numbers[i] == np.round(numbers[i])) & (numbers[i] >= low) & (numbers[i] <= high)
            frame[column] = np.where(valid, numbers[i], np.nan)
        checks[column] = {"missing": int(missing[:, i].sum()), "invalid": int((~missing[:, i] & ~valid).sum())}
        if column in NUMERIC_FEATURES and valid.any():
            checks[column].update(min=float(frame[column].min()), max=float(frame[column].max()))
    return frame, checks


def to_numbers(text: np.ndarray) -> np.ndarray:
    """Numbers, NaN where a value is not one; numpy parses the common all-valid case in C."""
    try:
        return text.astype(np.int64).astype(np.float64)  # integers parse faster than floats
    except ValueError:
        return pd.DataFrame(text).apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)


def report(group: int, batch: int, rows: Sequence[Sequence[str]], references: Sequence[Reference],
           thresholds: Mapping[str, float]) -> dict:
    """The quality of one batch (its raw rows) against each reference."""
    frame, checks = typed(rows)
    earlier = next((ref.frame for ref in references if ref.name == "earlier" and ref.frame is not None), None)
    seen_before = set(row_hashes(earlier)) if earlier is not None else set()
    comparisons = {}
    for ref in references:
        if ref.frame is None:
            comparisons[ref.name] = {"batches": [], "version": ref.version, "note": ref.note or "no earlier batch"}
            continue
        values = drift(ref.frame, frame)
        comparisons[ref.name] = {"batches": list(ref.batches), "version": ref.version, "values": values,
                                 "flagged_features": passing(values, thresholds)}
    flagged = sorted({f for c in comparisons.values() for f in c.get("flagged_features", [])}, key=DRIFTED.index)
    return {
        "group_number": group, "batch_number": batch, "computed_at": batches.now_iso(),
        "rows": len(frame),
        "rows_repeated_within": int(row_hashes(frame).duplicated().sum()),
        "rows_repeated_earlier": int(row_hashes(frame).isin(seen_before).sum()),
        "class_shares": class_shares(frame[LABEL]),
        "columns": checks,
        "drift": comparisons,
        "thresholds": dict(thresholds),
        "flagged": bool(flagged),
        "flagged_features": flagged,
    }


def row_hashes(frame: pd.DataFrame) -> pd.Series:
    """One 64-bit hash per row (all 13 columns), to find repeats."""
    return pd.util.hash_pandas_object(frame, index=False)


def class_shares(labels: pd.Series) -> dict[str, float]:
    shares = labels.dropna().astype(int).value_counts(normalize=True).sort_index()
    return {str(label): round(float(share), 6) for label, share in shares.items()}


def passing(values: Mapping[str, float], thresholds: Mapping[str, float]) -> list[str]:
    return [column for column, value in values.items() if value > threshold_of(column, thresholds)]


def threshold_of(column: str, thresholds: Mapping[str, float]) -> float:
    return thresholds["psi"] if column in NUMERIC_FEATURES else thresholds["js"]


def thresholds_of(settings: Settings) -> dict[str, float]:
    return {"psi": settings.drift_psi_threshold, "js": settings.drift_js_threshold}


# --- in MinIO ---------------------------------------------------------------------------
def quality_key(group: int, batch: int) -> str:
    return f"{QUALITY_PREFIX}group={group}/batch={batch:02d}.json"


def compute_and_store(settings: Settings, group: int, batch: int, stored: Stored | None = None,
                      champion: Reference | None = None) -> dict:
    """Compute the batch's report from the stored batches and keep it in MinIO."""
    stored = stored if stored is not None else load_all(settings, group)
    earlier = tuple(sorted(number for number in stored.infos if number < batch))
    champion = champion_reference(settings, stored) if champion is None else champion
    references = [Reference("earlier", earlier, stored.frame(earlier)), champion]
    body = report(group, batch, stored.rows(batch), references, thresholds_of(settings))
    put(settings, quality_key(group, batch), body)
    return body


def champion_reference(settings: Settings, stored: Stored) -> Reference:
    """The stored batches the champion was trained on; without rows (and a note why) if there are none."""
    try:
        registry = Registry(settings)
        info = registry.resolve(settings.model_name, settings.model_alias)
        numbers = registry.run_params(info.run_id).get("batches", "")
    except (ServiceUnavailable, UpstreamError) as exc:
        return Reference("champion", (), None, note=exc.message)
    trained = tuple(int(n) for n in numbers.split(",") if n.strip().isdigit() and int(n) in stored.infos)
    if not trained:
        return Reference("champion", (), None, version=info.version, note="its training batches are no longer stored")
    return Reference("champion", trained, stored.frame(trained), version=info.version)


def load_all(settings: Settings, group: int) -> Stored:
    return Stored(settings, group, {info.batch_number: info for info in batches.list_batches(settings, group)})


def put(settings: Settings, key: str, body: dict) -> None:
    storage.write_json(settings, settings.batch_bucket, key, body)


def load(settings: Settings, group: int, batch: int) -> dict | None:
    """The stored report of one batch, None if it has none."""
    found = storage.read_json(settings, settings.batch_bucket, quality_key(group, batch))
    return None if found is None else found[0]


def reports_for(settings: Settings, group: int, stored: Stored) -> dict[int, dict]:
    """Batch -> its stored report, computed (and stored) for a batch that has none."""
    found: dict[int, dict | None] = {}
    champion = None
    for number in sorted(stored.infos):
        found[number] = load(settings, group, number)
        if found[number] is None:
            champion = champion or champion_reference(settings, stored)
            found[number] = compute_and_store(settings, group, number, stored, champion)
    return found


def training_summary(reports: Mapping[int, dict]) -> dict:
    """What a training records: the flagged batches with their features, and every report."""
    flagged = {str(n): r["flagged_features"] for n, r in sorted(reports.items()) if r.get("flagged")}
    return {"flagged_batches": flagged, "reports": {str(n): r for n, r in sorted(reports.items())}}


def recompute(settings: Settings, group: int) -> list[dict]:
    """Recompute and store the report of every stored batch of the group."""
    stored = load_all(settings, group)
    champion = champion_reference(settings, stored)
    return [compute_and_store(settings, group, number, stored, champion) for number in sorted(stored.infos)]


def main() -> None:
    from shared.settings import load_settings

    try:
        settings = load_settings()
        for body in recompute(settings, settings.group_number):
            features = ", ".join(body["flagged_features"]) or "-"
            print(f"batch {body['batch_number']:02d}: {body['rows']} rows, flagged: {features}")
    except PipelineError as exc:
        sys.exit(f"error: {exc.message}")


if __name__ == "__main__":
    main()
