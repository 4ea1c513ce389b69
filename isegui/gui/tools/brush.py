"""Brush and eraser: paint the selected instance's mask (or a new instance's) with a round
brush; on release the mask becomes a polygon with holes through core's vectoriser."""

from __future__ import annotations

import math

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsPathItem

from isegui.core.geometry import rasterize, vectorize
from isegui.gui.commands.instance_commands import (AddInstanceCommand, DeleteInstancesCommand,
                                                   UpdateInstanceCommand)
from isegui.gui.tools.base import Tool, nudged
from isegui.gui.tools.shape_ops import clipped

SHIFT = 4  # cv2 draws with 4 fractional bits: strokes land where the mouse was


def paint_stroke(mask: np.ndarray, points: list[tuple[float, float]], diameter: float,
                 origin: tuple[int, int], value: int = 1) -> None:
    """Paint a round brush along `points` (image coordinates) into `mask`, whose top-left
    pixel is `origin`. Pixel (r, c) has its centre at (c + 0.5, r + 0.5)."""
    scale = 1 << SHIFT
    pts = [(int(round((x - origin[0] - 0.5) * scale)), int(round((y - origin[1] - 0.5) * scale)))
           for x, y in points]
    radius = int(round(diameter / 2 * scale))
    for p in pts:
        cv2.circle(mask, p, radius, value, -1, cv2.LINE_8, SHIFT)
    for a, b in zip(pts, pts[1:]):
        cv2.line(mask, a, b, value, max(1, int(round(diameter))), cv2.LINE_8, SHIFT)


class SizeCursorItem(QGraphicsEllipseItem):
    """A circle of the brush's diameter in image pixels (it grows as you zoom in): black under
    white, so it shows on any image."""

    def __init__(self):
        super().__init__()
        self.setZValue(1e9 + 1)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.inner = QGraphicsEllipseItem(self)
        for item, color, width in ((self, "#000000", 3), (self.inner, "#ffffff", 1)):
            pen = QPen(QColor(color))
            pen.setCosmetic(True)
            pen.setWidth(width)
            item.setPen(pen)
        self.hide()

    def place(self, center: QPointF, diameter: float) -> None:
        rect = QRectF(center.x() - diameter / 2, center.y() - diameter / 2, diameter, diameter)
        self.setRect(rect)
        self.inner.setRect(rect)
        self.show()


class BrushTool(Tool):
    name = "brush"
    cursor = Qt.CursorShape.CrossCursor
    erase = False

    def __init__(self, ctx):
        super().__init__(ctx)
        self.points: list[tuple[float, float]] = []
        self.preview: QGraphicsPathItem | None = None
        self.cursor_item = SizeCursorItem()
        ctx.scene.addItem(self.cursor_item)
        ctx.options.changed.connect(self._resize_cursor)

    def deactivate(self) -> None:
        super().deactivate()
        self.cursor_item.hide()

    def leave(self) -> None:
        self.cursor_item.hide()

    def _resize_cursor(self) -> None:
        if self.cursor_item.isVisible():
            self.cursor_item.place(self.cursor_item.rect().center(), self.ctx.options.brush_size)

    def press(self, pos, event) -> None:
        doc = self.ctx.document
        if doc is None or event.button() != Qt.MouseButton.LeftButton:
            return
        target = doc.selected[0] if len(doc.selected) == 1 else None
        if target is not None and not doc.editable(target):
            self.ctx.say("The selected instance is locked.")
            return
        if self.erase and target is None:
            self.ctx.say("Select the one instance to erase from first.")
            return
        if target is None and self.ctx.session.active_class_id is None:
            self.ctx.say("Add a class first, then paint.")
            return
        self.points = [(pos.x(), pos.y())]
        self._show()

    def move(self, pos, event) -> None:
        self.cursor_item.place(pos, self.ctx.options.brush_size)
        if self.points:
            self.points.append((pos.x(), pos.y()))
            self._show()

    def release(self, pos, event) -> None:
        if not self.points:
            return
        points = self.points
        self.cancel()
        self._apply(points)

    def key(self, event) -> bool:
        k = event.key()
        if k in (Qt.Key.Key_BracketRight, Qt.Key.Key_BracketLeft):
            self.ctx.options.set(brush_size=nudged(self.ctx.options.brush_size,
                                                   k == Qt.Key.Key_BracketRight, 1, 500))
            return True
        if k == Qt.Key.Key_Escape and self.points:
            self.cancel()
            return True
        return False

    def cancel(self) -> None:
        self.points = []
        if self.preview is not None:
            self.ctx.scene.removeItem(self.preview)
            self.preview = None

    def _show(self) -> None:
        path = QPainterPath(QPointF(*self.points[0]))
        for p in self.points[1:]:
            path.lineTo(QPointF(*p))
        stroker = QPainterPathStroker()
        stroker.setWidth(self.ctx.options.brush_size)
        stroker.setCapStyle(Qt.PenCapStyle.RoundCap)
        stroker.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        outline = stroker.createStroke(path) if len(self.points) > 1 else QPainterPath()
        r = self.ctx.options.brush_size / 2
        outline.addEllipse(QPointF(*self.points[0]), r, r)
        if self.preview is None:
            self.preview = QGraphicsPathItem()
            self.preview.setZValue(1e9)
            color = QColor("#ffffff" if self.erase else self._color())
            color.setAlphaF(0.45)
            self.preview.setBrush(color)
            pen = QPen(QColor("#000000"))
            pen.setCosmetic(True)
            self.preview.setPen(pen)
            self.ctx.scene.addItem(self.preview)
        self.preview.setPath(outline.simplified())

    def _color(self) -> str:
        cls = self.ctx.session.class_by_id(self.ctx.session.active_class_id)
        return cls.color if cls else "#ffffff"

    def _apply(self, points) -> None:
        doc = self.ctx.document
        record = doc.record
        target = doc.instance(doc.selected[0]) if len(doc.selected) == 1 else None
        size = self.ctx.options.brush_size
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        bounds = [min(xs) - size, min(ys) - size, max(xs) + size, max(ys) + size]
        if target is not None:
            minx, miny, maxx, maxy = target.shape.bounds
            bounds = [min(bounds[0], minx), min(bounds[1], miny), max(bounds[2], maxx),
                      max(bounds[3], maxy)]
        x0, y0 = max(0, math.floor(bounds[0])), max(0, math.floor(bounds[1]))
        x1 = min(record.width, math.ceil(bounds[2]) + 1)
        y1 = min(record.height, math.ceil(bounds[3]) + 1)
        if x1 <= x0 or y1 <= y0:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        if target is not None:
            mask[rasterize(target.shape, y1 - y0, x1 - x0, origin=(x0, y0))] = 1
        paint_stroke(mask, points, size, (x0, y0), value=0 if self.erase else 1)
        self._commit(target, vectorize(mask.astype(bool), origin=(x0, y0)))

    def _commit(self, target, shape) -> None:
        ctx, doc, session = self.ctx, self.ctx.document, self.ctx.session
        if ctx.options.clip and not shape.is_empty:
            others = [i.shape for i in doc.instances() if not i.crowd and (
                target is None or (i.id != target.id and i.z > target.z))]
            shape = clipped(shape, others)
            if shape is None:
                ctx.say("Nothing left: other instances already own all of that area.")
                return
        if target is None:
            if shape.is_empty:
                return
            cls = session.class_by_id(session.active_class_id)
            ctx.push(AddInstanceCommand(session, doc.image_id, cls.id, shape,
                                        text=f"Paint ({cls.name})"))
        elif shape.is_empty:
            ctx.push(DeleteInstancesCommand(session, doc.image_id, [target.id],
                                            text=f"Erase all of {target.id}"))
        else:
            verb = "Erase from" if self.erase else "Paint on"
            ctx.push(UpdateInstanceCommand(session, doc.image_id, target.id,
                                           text=f"{verb} {target.id}", shape=shape))


class EraserTool(BrushTool):
    name = "eraser"
    erase = True
