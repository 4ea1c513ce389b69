"""Shapes to Qt painter paths: the only place a shapely geometry becomes something Qt draws."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPainterPath, QPolygonF

from isegui.core.geometry import Shape, polygons_of


def ring_polygon(coords) -> QPolygonF:
    xy = np.asarray(coords, dtype=float)
    return QPolygonF([QPointF(x, y) for x, y in xy])


def shape_path(shape: Shape) -> QPainterPath:
    """Every ring as a closed subpath; the odd-even rule makes holes empty."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)
    for polygon in polygons_of(shape):
        for ring in (polygon.exterior, *polygon.interiors):
            path.addPolygon(ring_polygon(ring.coords))
            path.closeSubpath()
    return path
