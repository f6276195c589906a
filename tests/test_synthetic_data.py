"""The stand-in's synthetic data: valid, realistic, and learnable the way the real data is."""

from __future__ import annotations

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from infra.data_api.synthetic import generate
from shared.dataset import frame_from_rows
from shared.schema import CATEGORICAL_FEATURES, FEATURES, LABEL, NUMERIC_FEATURES

# whole-dataset class shares from data-api.md, classes 1..7
REAL_SHARES = {1: 0.365, 2: 0.488, 3: 0.062, 4: 0.005, 5: 0.016, 6: 0.030, 7: 0.035}


def frame(rows: int, seed: int) -> pd.DataFrame:
    return frame_from_rows(generate(rows, seed))


def test_seeded_and_valid():
    assert generate(500, seed=3) == generate(500, seed=3)
    assert generate(500, seed=3) != generate(500, seed=4)
    frame(20_000, seed=1)  # raises if any value is outside the schema


def test_class_shares_and_ecology_are_realistic():
    data = frame(30_000, seed=2)
    shares = data[LABEL].value_counts(normalize=True)
    for label, share in REAL_SHARES.items():
        assert abs(shares.get(label, 0) - share) < max(0.03, share / 2), (label, shares.get(label), share)
    by_area = data.groupby("Wilderness_Area")["Elevation"].mean()
    assert by_area.idxmax() == "Neota" and by_area.idxmin() == "Cache"
    assert data[data.Wilderness_Area == "Neota"][LABEL].mode()[0] == 1  # mostly Spruce/Fir
    assert data[data.Wilderness_Area == "Rawah"][LABEL].mode()[0] == 2  # mostly Lodgepole Pine
    assert set(data[data.Wilderness_Area == "Cache"][LABEL].value_counts().index[:3]) == {3, 4, 6}
    assert data.groupby(LABEL)["Elevation"].mean().idxmax() == 7  # Krummholz at the top
    assert abs(data["Elevation"].mean() - 2959) < 60 and abs(data["Elevation"].std() - 280) < 60


def test_random_forest_clearly_beats_logistic_regression():
    data = frame(12_000, seed=6)
    train, test = train_test_split(data, test_size=0.25, random_state=0, stratify=data[LABEL])

    def fitted(model):
        encode = ColumnTransformer([
            ("numeric", StandardScaler(), list(NUMERIC_FEATURES)),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
        ])
        return make_pipeline(encode, model).fit(train[list(FEATURES)], train[LABEL])

    lr = fitted(LogisticRegression(max_iter=1000)).score(test[list(FEATURES)], test[LABEL])
    rf = fitted(RandomForestClassifier(n_estimators=80, n_jobs=2, random_state=0)).score(
        test[list(FEATURES)], test[LABEL]
    )
    print(f"\nsynthetic data, 9000 train / 3000 test rows: random forest {rf:.3f}, logistic regression {lr:.3f}")
    assert rf - lr > 0.05
    assert rf > 0.8
