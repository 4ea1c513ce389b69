"""Measurements of one instance's shape, in pixels or, given a calibration, in millimetres."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Polygon

from isegui.core.geometry import Shape


@dataclass(frozen=True)
class Measurements:
    area: float  # holes excluded
    perimeter: float  # outer and hole boundaries
    bbox: tuple[float, float, float, float]  # x, y, width, height
    centroid: tuple[float, float]
    length: float  # the minimum-area rectangle's long side
    width: float  # and its short side
    angle: float  # direction of the long side, degrees in [0, 180), counter-clockwise on screen
    equivalent_diameter: float  # of the circle with the same area
    unit: str = "px"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(shape: Shape) -> Measurements:
    if shape.is_empty:
        return Measurements(0.0, 0.0, (0.0, 0.0, 0.0, 0.0), (math.nan, math.nan), 0.0, 0.0,
                            0.0, 0.0)
    minx, miny, maxx, maxy = shape.bounds
    centroid = shape.centroid
    length, width, angle = min_area_rectangle(shape)
    area = float(shape.area)
    return Measurements(
        area=area,
        perimeter=float(shape.length),
        bbox=(float(minx), float(miny), float(maxx - minx), float(maxy - miny)),
        centroid=(float(centroid.x), float(centroid.y)),
        length=length, width=width, angle=angle,
        equivalent_diameter=math.sqrt(4.0 * area / math.pi),
    )


def min_area_rectangle(shape: Shape) -> tuple[float, float, float]:
    """(length, width, angle) of the smallest rotated rectangle around the shape."""
    rect = shapely.minimum_rotated_rectangle(shape)
    if not isinstance(rect, Polygon):  # a line or a point: zero width
        coords = np.asarray(rect.coords) if not rect.is_empty else np.zeros((1, 2))
        span = coords.max(axis=0) - coords.min(axis=0)
        return float(np.hypot(*span)), 0.0, _screen_angle(span[0], span[1])
    corners = np.asarray(rect.exterior.coords)[:3]
    side_a, side_b = corners[1] - corners[0], corners[2] - corners[1]
    len_a, len_b = float(np.hypot(*side_a)), float(np.hypot(*side_b))
    long_side = side_a if len_a >= len_b else side_b
    return max(len_a, len_b), min(len_a, len_b), _screen_angle(*long_side)


def _screen_angle(dx: float, dy: float) -> float:
    # image y points down; on screen a counter-clockwise angle has dy < 0
    return round(math.degrees(math.atan2(-dy, dx)) % 180.0, 6) % 180.0


CSV_COLUMNS = ["image", "instance", "class", "score", "area_px", "bbox_x", "bbox_y", "bbox_w",
               "bbox_h", "length_px", "width_px", "angle_deg", "equivalent_diameter_px"]
MM_COLUMNS = ["area_mm2", "length_mm", "width_mm", "equivalent_diameter_mm"]
# A calibration isegui takes: a nanometre to a metre a pixel (below, every size in mm reads 0;
# above, no camera); the project, the watch and a model's metadata hold to it.
MIN_MM_PER_PX, MAX_MM_PER_PX = 1e-9, 1e6
CALIBRATION_COLUMN = "mm_per_px"  # on every row of a calibrated export: the scale it used


def csv_columns(calibrated: bool) -> list[str]:
    """The columns of a measurements CSV file (the app's export and `isegui predict --csv`)."""
    return CSV_COLUMNS + (MM_COLUMNS + [CALIBRATION_COLUMN] if calibrated else [])


def measurement_row(image: str, instance: int, class_name: str | None, shape: Shape,
                    score: float | None, mm_per_px: float | None) -> dict[str, Any]:
    """One instance's measurements as a CSV row (CSV_COLUMNS, plus MM_COLUMNS and the
    mm per pixel used when the project is calibrated: `csv_columns`)."""
    m = measure(shape)
    row: dict[str, Any] = {
        "image": image, "instance": instance, "class": class_name or "",
        "score": "" if score is None else round(score, 4), "area_px": round(m.area, 1),
        "bbox_x": round(m.bbox[0], 1), "bbox_y": round(m.bbox[1], 1),
        "bbox_w": round(m.bbox[2], 1), "bbox_h": round(m.bbox[3], 1),
        "length_px": round(m.length, 2), "width_px": round(m.width, 2),
        "angle_deg": round(m.angle, 1),
        "equivalent_diameter_px": round(m.equivalent_diameter, 2)}
    if mm_per_px:
        mm = to_mm(m, mm_per_px)
        row.update(area_mm2=round(mm.area, 4), length_mm=round(mm.length, 4),
                   width_mm=round(mm.width, 4),
                   equivalent_diameter_mm=round(mm.equivalent_diameter, 4))
        row[CALIBRATION_COLUMN] = float(mm_per_px)
    return row


def to_mm(m: Measurements, mm_per_px: float) -> Measurements:
    """The same measurements in millimetres (areas in mm²); the angle does not change."""
    k = float(mm_per_px)
    x, y, w, h = m.bbox
    cx, cy = m.centroid
    return replace(
        m, area=m.area * k * k, perimeter=m.perimeter * k,
        bbox=(x * k, y * k, w * k, h * k), centroid=(cx * k, cy * k),
        length=m.length * k, width=m.width * k,
        equivalent_diameter=m.equivalent_diameter * k, unit="mm")
