"""What the canvas draws: the image, each instance, and the previews tools show."""

from __future__ import annotations

import math

import numpy as np
import shapely
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsPixmapItem

from isegui.core.entities import Instance
from isegui.core.geometry import polygons_of
from isegui.core.handles import handle_indices
from isegui.core.images import to_uint8
from isegui.gui.canvas.paths import shape_path

HANDLE_PX = 7  # vertex handles, in screen pixels whatever the zoom
OUTLINE_PX, SELECTED_OUTLINE_PX = 2, 3  # outlines, in screen pixels
OVERVIEW_BELOW_SCALE = 1.0  # zoomed out further than this, an item draws an overview: a
# pixmap at half resolution below half size, at full resolution up to 1:1 (never magnified)


def pixmap_from_array(pixels: np.ndarray) -> QPixmap:
    """8-bit view of any image (16-bit stretched, gray kept gray) as a pixmap."""
    view = np.ascontiguousarray(to_uint8(pixels))
    h, w = view.shape[:2]
    if view.ndim == 2:
        image = QImage(view.data, w, h, w, QImage.Format.Format_Grayscale8)
    else:
        image = QImage(view.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())  # copy: the numpy buffer goes away


class ImageItem(QGraphicsPixmapItem):
    def __init__(self):
        super().__init__()
        self.setZValue(-1000)
        self.setTransformationMode(Qt.TransformationMode.FastTransformation)  # see pixels
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)


class InstanceItem(QGraphicsItem):
    """One instance: a filled path with holes, an outline of constant screen width, and
    vertex handles when selected for editing. It takes no mouse input: tools do.

    Zoomed in, it draws vectors, simplified so no vertex moves more than half a screen pixel
    (and few items are in view). Zoomed out, where thousands may be, it draws an overview
    pixmap it painted once: a repaint of two thousand items then takes milliseconds. The
    overviews live until the instance or its look changes, whatever the zoom does."""

    def __init__(self, instance: Instance):
        super().__init__()
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.color = QColor("#ff0000")
        self.opacity_fill = 0.18
        self.outline_only = False
        self.selected = False
        self.show_vertices = False
        self._override: QPainterPath | None = None  # a tool's preview of this instance
        self.set_instance(instance)

    def set_instance(self, instance: Instance) -> None:
        self.prepareGeometryChange()
        self.instance = instance
        minx, miny, maxx, maxy = instance.shape.bounds if not instance.shape.is_empty \
            else (0, 0, 0, 0)
        self._bounds = QRectF(minx, miny, maxx - minx, maxy - miny)
        self._paths: dict[int | None, QPainterPath] = {}  # zoom level (None: exact) -> path
        self._vertices: np.ndarray | None = None
        self._override = None
        self._overviews: dict[float, QPixmap] = {}  # resolution -> pixmap
        self.setZValue(instance.z)
        self.update()

    def set_preview_path(self, path: QPainterPath | None) -> None:
        """Draw this path instead of the instance (a drag in progress); None ends it."""
        self.prepareGeometryChange()
        self._override = path
        self._overviews = {}
        self.update()

    def path(self, level: int | None = None) -> QPainterPath:
        """The outline, simplified to 0.5 * 2**level image pixels (None: exact)."""
        if self._override is not None:
            return self._override
        if level not in self._paths:
            shape = self.instance.shape
            if level is not None:
                # display only: plain Douglas-Peucker is fast, and a crossing is invisible
                simpler = shapely.simplify(shape, 0.5 * 2.0 ** level, preserve_topology=False)
                shape = simpler if not simpler.is_empty else shape
            self._paths[level] = shape_path(shape)
        return self._paths[level]

    @property
    def vertices(self) -> np.ndarray:
        """The vertices that have handles (a pixel trace's are a few: core.handles)."""
        if self._vertices is None:
            rings = [np.asarray(r.coords)[:-1] for p in polygons_of(self.instance.shape)
                     for r in (p.exterior, *p.interiors)]
            rings = [r[handle_indices(r)] for r in rings]
            self._vertices = np.concatenate(rings) if rings else np.zeros((0, 2))
        return self._vertices

    def set_style(self, color: QColor, opacity: float, outline_only: bool) -> None:
        style = (QColor(color), opacity, outline_only)
        if style != (self.color, self.opacity_fill, self.outline_only):
            self.color, self.opacity_fill, self.outline_only = style
            self._overviews = {}
            self.update()

    def set_selected(self, selected: bool, show_vertices: bool) -> None:
        if (selected, show_vertices) != (self.selected, self.show_vertices):
            self.selected, self.show_vertices = selected, show_vertices
            self._overviews = {}
            self.update()

    def boundingRect(self) -> QRectF:
        # room for the outline and the handles, which have a fixed size on screen
        rect = self._override.boundingRect() if self._override is not None else self._bounds
        return rect.adjusted(-8, -8, 8, 8)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        scale = painter.worldTransform().m11() or 1.0
        if scale < OVERVIEW_BELOW_SCALE and self._override is None and not self.selected:
            rect = self.boundingRect()
            pixmap = self._overview(rect, 0.5 if scale < 0.5 else 1.0)
            painter.drawPixmap(rect, pixmap, QRectF(pixmap.rect()))
            return
        self._draw(painter, scale)

    def _overview(self, rect: QRectF, r: float) -> QPixmap:
        if r not in self._overviews:
            image = QImage(max(1, int(rect.width() * r) + 1), max(1, int(rect.height() * r) + 1),
                           QImage.Format.Format_ARGB32_Premultiplied)
            image.fill(Qt.GlobalColor.transparent)
            painter = QPainter(image)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.scale(r, r)
            painter.translate(-rect.left(), -rect.top())
            self._draw(painter, r)
            painter.end()
            self._overviews[r] = QPixmap.fromImage(image)
        return self._overviews[r]

    def _draw(self, painter: QPainter, scale: float) -> None:
        # simplified to half a screen pixel, by powers of two; exact from 16x zoom on
        level = min(10, math.floor(math.log2(1.0 / scale)))
        path = self.path(level if level > -4 else None)
        # outline first: a clear line in the class colour, a light fill (the object's own
        # look shows through); the selection a little stronger, its line dashed
        pen = QPen(self.color.lighter(150) if self.selected else self.color)
        pen.setCosmetic(True)
        # whole pixels: Qt's fast stroking path
        pen.setWidth(SELECTED_OUTLINE_PX if self.selected else OUTLINE_PX)
        if self.selected:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        if self.outline_only:
            painter.setBrush(Qt.BrushStyle.NoBrush)
        else:
            fill = QColor(self.color)
            fill.setAlphaF(min(1.0, self.opacity_fill * (2.0 if self.selected else 1.0)))
            painter.setBrush(QBrush(fill))
        painter.drawPath(path)  # fill and outline in one call
        if self.show_vertices:
            half = HANDLE_PX / 2 / scale
            painter.setPen(QPen(QColor("white"), 0))
            painter.setBrush(QBrush(self.color))
            for x, y in self.vertices:
                painter.drawRect(QRectF(x - half, y - half, 2 * half, 2 * half))


class PreviewItem(QGraphicsPathItem):
    """A tool's drawing in progress (a polygon being clicked, a rectangle being dragged)."""

    def __init__(self, color: QColor):
        super().__init__()
        self.setZValue(1e9)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        pen = QPen(QColor(color).lighter(130))
        pen.setCosmetic(True)
        pen.setWidthF(2.0)
        self.setPen(pen)
        fill = QColor(color)
        fill.setAlphaF(0.25)
        self.setBrush(QBrush(fill))
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresParentOpacity)

    def show_points(self, points: list[QPointF], closed: bool, cursor: QPointF | None = None):
        path = QPainterPath()
        pts = list(points) + ([cursor] if cursor is not None else [])
        if pts:
            path.moveTo(pts[0])
            for p in pts[1:]:
                path.lineTo(p)
            if closed:
                path.closeSubpath()
        self.setPath(path)
