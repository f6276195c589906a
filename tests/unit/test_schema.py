"""The covertype schema: the Data API's 13 columns, their domains, the class names."""

from __future__ import annotations

import pytest

from shared.schema import (
    CATEGORICAL_FEATURES,
    CATEGORIES,
    COLUMNS,
    FEATURES,
    LABEL,
    NUMERIC_FEATURES,
    NUMERIC_RANGES,
    SOIL_TYPES,
    WILDERNESS_AREAS,
    cover_type_name,
)

# the Data API's column order, as docs/data-api.md lists it
API_ORDER = (
    "Elevation", "Aspect", "Slope", "Horizontal_Distance_To_Hydrology", "Vertical_Distance_To_Hydrology",
    "Horizontal_Distance_To_Roadways", "Hillshade_9am", "Hillshade_Noon", "Hillshade_3pm",
    "Horizontal_Distance_To_Fire_Points", "Wilderness_Area", "Soil_Type", "Cover_Type",
)


def test_columns_are_the_data_apis_in_its_order():
    assert COLUMNS == API_ORDER


def test_twelve_features_then_the_label():
    assert len(FEATURES) == 12 and len(COLUMNS) == 13
    assert COLUMNS[-1] == LABEL == "Cover_Type"
    assert LABEL not in FEATURES


def test_no_column_is_listed_twice():
    assert len(set(COLUMNS)) == len(COLUMNS)


def test_features_are_numeric_then_categorical():
    assert FEATURES == NUMERIC_FEATURES + CATEGORICAL_FEATURES
    assert len(NUMERIC_FEATURES) == 10
    assert CATEGORICAL_FEATURES == ("Wilderness_Area", "Soil_Type")


@pytest.mark.parametrize("feature", list(NUMERIC_RANGES))
def test_each_numeric_range_is_low_below_high(feature):
    low, high = NUMERIC_RANGES[feature]
    assert isinstance(low, int) and isinstance(high, int)
    assert low < high


def test_hillshades_are_bytes():
    for feature in ("Hillshade_9am", "Hillshade_Noon", "Hillshade_3pm"):
        assert NUMERIC_RANGES[feature] == (0, 255)


def test_four_wilderness_areas():
    assert WILDERNESS_AREAS == ("Rawah", "Neota", "Commanche", "Cache")


def test_forty_distinct_soil_types_as_elu_codes():
    assert len(SOIL_TYPES) == 40 and len(set(SOIL_TYPES)) == 40
    assert all(code.startswith("C") and len(code) == 5 and code[1:].isdigit() for code in SOIL_TYPES)
    assert SOIL_TYPES[0] == "C2702" and SOIL_TYPES[-1] == "C8776"


def test_categories_map_each_categorical_feature_to_its_domain():
    assert CATEGORIES == {"Wilderness_Area": WILDERNESS_AREAS, "Soil_Type": SOIL_TYPES}


@pytest.mark.parametrize("label, name", [(1, "Spruce/Fir"), (2, "Lodgepole Pine"), (4, "Cottonwood/Willow"),
                                         (7, "Krummholz")])
def test_known_labels_have_their_names(label, name):
    assert cover_type_name(label) == name


@pytest.mark.parametrize("label", [0, 8, -1])
def test_unknown_labels_are_named_by_number(label):
    assert cover_type_name(label) == f"class {label}"
