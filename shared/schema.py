"""The covertype data: the 13 columns the Data API sends, their types and domains.

The Data API sends every value as a string; `FEATURES` are the 12 inputs a model sees,
`LABEL` the class. Ranges are the dataset's documented bounds, slightly widened where
the documentation rounds (validation must not reject real rows).
"""

from __future__ import annotations

LABEL = "Cover_Type"

# numeric feature -> inclusive (low, high)
NUMERIC_RANGES: dict[str, tuple[int, int]] = {
    "Elevation": (1500, 4500),
    "Aspect": (0, 360),
    "Slope": (0, 90),
    "Horizontal_Distance_To_Hydrology": (0, 2000),
    "Vertical_Distance_To_Hydrology": (-500, 1000),
    "Horizontal_Distance_To_Roadways": (0, 10000),
    "Hillshade_9am": (0, 255),
    "Hillshade_Noon": (0, 255),
    "Hillshade_3pm": (0, 255),
    "Horizontal_Distance_To_Fire_Points": (0, 10000),
}

WILDERNESS_AREAS: tuple[str, ...] = ("Rawah", "Neota", "Commanche", "Cache")

SOIL_TYPES: tuple[str, ...] = tuple(
    "C" + code
    for code in (
        "2702 2703 2704 2705 2706 2717 3501 3502 4201 4703 4704 4744 4758 5101 5151 6101 6102 6731 7101 7102 "
        "7103 7201 7202 7700 7701 7702 7709 7710 7745 7746 7755 7756 7757 7790 8703 8707 8708 8771 8772 8776"
    ).split()
)

CATEGORIES: dict[str, tuple[str, ...]] = {"Wilderness_Area": WILDERNESS_AREAS, "Soil_Type": SOIL_TYPES}

NUMERIC_FEATURES: tuple[str, ...] = tuple(NUMERIC_RANGES)
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(CATEGORIES)
FEATURES: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES
COLUMNS: tuple[str, ...] = FEATURES + (LABEL,)

COVER_TYPE_NAMES: dict[int, str] = {
    1: "Spruce/Fir",
    2: "Lodgepole Pine",
    3: "Ponderosa Pine",
    4: "Cottonwood/Willow",
    5: "Aspen",
    6: "Douglas-fir",
    7: "Krummholz",
}


def cover_type_name(label: int) -> str:
    """Human name of a class; the course's file also numbers classes 0..6."""
    return COVER_TYPE_NAMES.get(label, f"class {label}")
