"""What the canvas draws: the image, each instance, and the previews tools show."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsPixmapItem

from isegui.core.entities import Instance
from isegui.core.geometry import polygons_of
from isegui.core.images import to_uint8
from isegui.gui.canvas.paths import shape_path

HANDLE_PX = 7  # vertex handles, in screen pixels whatever the zoom


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


class InstanceItem(QGraphicsPathItem):
    """One instance: a filled path with holes, an outline of constant screen width, and
    vertex handles when selected for editing. It takes no mouse input: tools do."""

    def __init__(self, instance: Instance):
        super().__init__()
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.color = QColor("#ff0000")
        self.opacity_fill = 0.4
        self.outline_only = False
        self.selected = False
        self.show_vertices = False
        self.vertices = np.zeros((0, 2))
        self.set_instance(instance)

    def set_instance(self, instance: Instance) -> None:
        self.instance = instance
        self.prepareGeometryChange()
        self.setPath(shape_path(instance.shape))
        rings = [np.asarray(r.coords)[:-1] for p in polygons_of(instance.shape)
                 for r in (p.exterior, *p.interiors)]
        self.vertices = np.concatenate(rings) if rings else np.zeros((0, 2))
        self.setZValue(instance.z)
        self.update()

    def set_style(self, color: QColor, opacity: float, outline_only: bool) -> None:
        self.color, self.opacity_fill, self.outline_only = QColor(color), opacity, outline_only
        self.update()

    def set_selected(self, selected: bool, show_vertices: bool) -> None:
        self.selected, self.show_vertices = selected, show_vertices
        self.update()

    def boundingRect(self) -> QRectF:
        # room for the outline and the handles, which have a fixed size on screen
        return self.path().boundingRect().adjusted(-8, -8, 8, 8)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if not self.outline_only:
            fill = QColor(self.color)
            fill.setAlphaF(min(1.0, self.opacity_fill * (1.6 if self.selected else 1.0)))
            painter.fillPath(self.path(), QBrush(fill))
        pen = QPen(self.color.lighter(150) if self.selected else self.color)
        pen.setCosmetic(True)
        pen.setWidthF(2.5 if self.selected else 1.5)
        if self.selected:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())
        if self.show_vertices and len(self.vertices):
            scale = painter.worldTransform().m11() or 1.0
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
