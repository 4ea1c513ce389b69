"""Shapes to Qt painter paths: the only place a shapely geometry becomes something Qt draws."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainterPath

from isegui.core.geometry import Shape, polygons_of


def shape_path(shape: Shape) -> QPainterPath:
    """Every ring as a closed subpath; the odd-even rule makes holes empty."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)
    for polygon in polygons_of(shape):
        for ring in (polygon.exterior, *polygon.interiors):
            points = ring.coords[:-1]  # plain floats: much faster to hand to Qt than numpy's
            if len(points) < 3:
                continue
            path.moveTo(*points[0])
            for x, y in points[1:]:
                path.lineTo(x, y)
            path.closeSubpath()
    return path
