"""Measurements of one instance's shape, in pixels or, given a calibration, in millimetres."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
import shapely

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

    def as_dict(self) -> dict:
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
    if rect.geom_type != "Polygon":  # a line or a point: zero width
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


def to_mm(m: Measurements, mm_per_px: float) -> Measurements:
    """The same measurements in millimetres (areas in mm²); the angle does not change."""
    k = float(mm_per_px)
    return replace(
        m, area=m.area * k * k, perimeter=m.perimeter * k,
        bbox=tuple(v * k for v in m.bbox), centroid=tuple(v * k for v in m.centroid),
        length=m.length * k, width=m.width * k,
        equivalent_diameter=m.equivalent_diameter * k, unit="mm")
