"""A seeded synthetic Forest Cover Type dataset in the course's 13-column format.

Features are drawn first, site by site, then the cover type follows from them by
ecological rules with fuzzy thresholds (see `/work/shared/data-api.md`): elevation sets
the vegetation belt, the wilderness area shifts it, and within a belt the aspect,
slope, water and disturbance decide. The rules mix thresholds on several features
(north-facing *and* steep, near water *and* low), which trees learn and a linear model
cannot, so tree ensembles clearly beat logistic regression, as on the real data.
"""

from __future__ import annotations

import numpy as np

from shared.schema import COLUMNS, SOIL_TYPES, WILDERNESS_AREAS

# Wilderness shares of the real dataset: Rawah, Neota, Commanche, Cache
WILDERNESS_SHARES = (0.449, 0.051, 0.436, 0.064)
# mean and sd of elevation (m) per wilderness area: Neota highest, Cache lowest
ELEVATION_BY_AREA = {"Rawah": (2990, 190), "Neota": (3320, 130), "Commanche": (2930, 240), "Cache": (2230, 150)}
ELEVATION_RANGE = (1859, 3858)

SPRUCE_FIR, LODGEPOLE, PONDEROSA, COTTONWOOD, ASPEN, DOUGLAS_FIR, KRUMMHOLZ = range(1, 8)


def generate(rows: int, seed: int) -> list[list[str]]:
    """`rows` data rows, every value a string, columns in the Data API's order."""
    rng = np.random.default_rng(seed)
    site = draw_sites(rows, rng)
    site["Cover_Type"] = cover_types(site, rng)
    columns = [site[name].astype(str) for name in COLUMNS]
    return [list(row) for row in zip(*columns, strict=True)]


def draw_sites(rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    area = rng.choice(len(WILDERNESS_AREAS), size=rows, p=WILDERNESS_SHARES)
    mean = np.array([ELEVATION_BY_AREA[name][0] for name in WILDERNESS_AREAS])[area]
    sd = np.array([ELEVATION_BY_AREA[name][1] for name in WILDERNESS_AREAS])[area]
    elevation = np.clip(rng.normal(mean, sd), *ELEVATION_RANGE).round()
    aspect = rng.integers(0, 361, size=rows)
    slope = np.clip(rng.gamma(3.5, 4.0, size=rows), 0, 66).round()
    hydro_h = np.clip(rng.gamma(1.6, 170, size=rows), 0, 1397).round()
    hydro_v = np.clip(hydro_h * rng.normal(0.15, 0.12, size=rows) + rng.normal(5, 22, size=rows), -173, 601).round()
    roads = np.clip(rng.gamma(2.3, 1020, size=rows), 0, 7117).round()
    fire = np.clip(rng.gamma(2.2, 900, size=rows), 0, 7173).round()
    hill_9am, hill_noon, hill_3pm = hillshades(aspect, slope, rng)
    return {
        "Elevation": elevation.astype(int),
        "Aspect": aspect,
        "Slope": slope.astype(int),
        "Horizontal_Distance_To_Hydrology": hydro_h.astype(int),
        "Vertical_Distance_To_Hydrology": hydro_v.astype(int),
        "Horizontal_Distance_To_Roadways": roads.astype(int),
        "Hillshade_9am": hill_9am,
        "Hillshade_Noon": hill_noon,
        "Hillshade_3pm": hill_3pm,
        "Horizontal_Distance_To_Fire_Points": fire.astype(int),
        "Wilderness_Area": np.array(WILDERNESS_AREAS)[area],
        "Soil_Type": soil_types(elevation, rng),
    }


def hillshades(aspect: np.ndarray, slope: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Illumination of the slope by the sun at 9am (east), noon (south) and 3pm (west)."""
    a, s = np.radians(aspect), np.radians(slope)
    shades = []
    for sun_azimuth, sun_altitude, spread in ((100, 55, 12), (180, 65, 10), (260, 35, 18)):
        az, alt = np.radians(sun_azimuth), np.radians(sun_altitude)
        light = np.sin(alt) * np.cos(s) + np.cos(alt) * np.sin(s) * np.cos(a - az)
        shade = 255 * np.clip(light, 0, 1) + rng.normal(0, spread, size=aspect.size)
        shades.append(np.clip(shade, 0, 255).round().astype(int))
    return tuple(shades)


def soil_types(elevation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An ELU code whose climatic zone (first digit) rises with elevation."""
    zones = np.array([int(code[1]) for code in SOIL_TYPES])
    # climatic zone 2 (lower montane dry) at ~2100 m up to 8 (alpine) at ~3500 m
    zone = np.clip(np.rint(2 + (elevation - 2100) / 235 + rng.normal(0, 0.8, size=elevation.size)), 2, 8)
    codes = np.empty(elevation.size, dtype=object)
    for z in np.unique(zone):
        candidates = np.array(SOIL_TYPES)[zones == nearest_zone(int(z), zones)]
        picked = zone == z
        codes[picked] = rng.choice(candidates, size=int(picked.sum()))
    return codes.astype(str)


def nearest_zone(zone: int, zones: np.ndarray) -> int:
    present = np.unique(zones)
    return int(present[np.argmin(np.abs(present - zone))])


def cover_types(site: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    rows = site["Elevation"].size
    # each site's belt boundaries are fuzzy: shift its elevation by local noise
    e = site["Elevation"] + rng.normal(0, 45, size=rows)
    area = site["Wilderness_Area"]
    facing = np.cos(np.radians(site["Aspect"]))  # +1 north, -1 south
    north, south = facing > 0.2, facing < -0.2
    dry_ridge = (site["Horizontal_Distance_To_Hydrology"] > 450) & (site["Slope"] < 10)
    # cold air pools in valley bottoms: close to water and level with it
    cold_pool = (site["Horizontal_Distance_To_Hydrology"] < 250) & (np.abs(site["Vertical_Distance_To_Hydrology"]) < 15)
    near_water = (site["Horizontal_Distance_To_Hydrology"] < 90) & (np.abs(site["Vertical_Distance_To_Hydrology"]) < 20)
    disturbed = (site["Horizontal_Distance_To_Fire_Points"] < 900) & (site["Horizontal_Distance_To_Roadways"] < 1300)

    label = np.full(rows, LODGEPOLE)
    # cool north slopes carry spruce-fir lower down; warm south slopes and dry ridges keep pine higher up
    spruce_line = np.where(area == "Neota", 3010, 3085) - 170 * north + 150 * south + 180 * dry_ridge - 300 * cold_pool
    label[e > spruce_line] = SPRUCE_FIR
    label[(e > 2760) & (e < 3040) & disturbed & (area != "Neota") & ~north] = ASPEN
    krummholz_line = np.where(area == "Neota", 3400, 3360) + 60 * south
    label[e > krummholz_line] = KRUMMHOLZ
    low = e < np.where(area == "Cache", 2600, 2500) + 60 * south
    label[low] = np.where(north[low] & (site["Slope"][low] > 8), DOUGLAS_FIR, PONDEROSA)
    label[low & near_water & (e < 2400)] = COTTONWOOD
    # a few sites whose cover the features do not explain (succession, mapping errors)
    noise = rng.random(rows) < 0.04
    label[noise] = rng.choice([SPRUCE_FIR, LODGEPOLE], size=int(noise.sum()))
    return label
