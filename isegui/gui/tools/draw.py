"""Tools that draw new shapes: polygon, rectangle, ellipse, and a polygon that cuts a hole."""

from __future__ import annotations

import math
import time

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor
from shapely.geometry import Polygon, box

from isegui.core.errors import ShapeError
from isegui.core.labeling_log import LabelingEntry
from isegui.core.geometry import polygon_from_points, repair
from isegui.gui.canvas.items import PreviewItem
from isegui.gui.commands.instance_commands import AddInstanceCommand, UpdateInstanceCommand
from isegui.gui.tools.base import Tool
from isegui.gui.tools.shape_ops import clipped, snap_point

CLOSE_PX = 8  # clicking this close to the first vertex closes the polygon


def add_drawn_shape(ctx, shape, what: str) -> bool:
    """A new instance of the active class from a drawn shape (clipped if asked); False when
    none was added."""
    doc, session = ctx.document, ctx.session
    if doc is None:
        return False
    if session.active_class_id is None:
        ctx.say("Add a class first (Classes panel), then draw.")
        return False
    if ctx.options.clip:
        others = [i.shape for i in doc.instances() if not i.crowd]
        shape = clipped(shape, others)
        if shape is None:
            ctx.say("Nothing left: other instances already own all of that area.")
            return False
    cls = session.class_by_id(session.active_class_id)
    ctx.push(AddInstanceCommand(session, doc.image_id, cls.id, shape,
                                text=f"Draw {what} ({cls.name})"))
    return True


def other_shapes(doc, exclude: set[int] | frozenset[int] = frozenset()):
    return [i.shape for i in doc.instances() if i.id not in exclude and i.id not in doc.hidden]


def active_color(ctx) -> QColor:
    cls = ctx.session.class_by_id(ctx.session.active_class_id)
    return QColor(cls.color if cls else "#ffffff")


class PolygonTool(Tool):
    name = "polygon"
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, ctx):
        super().__init__(ctx)
        self.points: list[QPointF] = []
        self.preview: PreviewItem | None = None
        self.started = 0.0  # when its first vertex came (the labeling log's seconds)

    def _snap(self, pos: QPointF) -> QPointF:
        if not self.ctx.options.snap or self.ctx.document is None:
            return pos
        x, y = snap_point(pos.x(), pos.y(), other_shapes(self.ctx.document),
                          self.ctx.tolerance())
        return QPointF(x, y)

    def press(self, pos, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.ctx.document is None:
            return
        if len(self.points) >= 3:
            first = self.points[0]
            if math.hypot(pos.x() - first.x(), pos.y() - first.y()) <= \
                    self.ctx.tolerance(CLOSE_PX):
                self.finish()
                return
        if not self.points:
            self.started = time.monotonic()
        self.points.append(self._snap(pos))
        self._show(pos)

    def move(self, pos, event) -> None:
        if self.points:
            self._show(self._snap(pos))

    def key(self, event) -> bool:
        k = event.key()
        if k in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.points:
            self.finish()
            return True
        if k == Qt.Key.Key_Escape and self.points:
            self.cancel()
            return True
        if k == Qt.Key.Key_Backspace and self.points:
            self.points.pop()
            self._show(None)
            return True
        return False

    def _show(self, cursor: QPointF | None) -> None:
        if self.preview is None:
            self.preview = PreviewItem(active_color(self.ctx))
            self.ctx.scene.addItem(self.preview)
        self.preview.show_points(self.points, closed=False, cursor=cursor)

    def cancel(self) -> None:
        self.points = []
        if self.preview is not None:
            self.ctx.scene.removeItem(self.preview)
            self.preview = None

    def finish(self) -> None:
        points = [(p.x(), p.y()) for p in self.points]
        self.cancel()
        if len(points) < 3:
            self.ctx.say("A polygon needs at least 3 points.")
            return
        try:
            fixed = polygon_from_points(points)
        except ShapeError as exc:
            self.ctx.say(f"Not drawn: {exc}.")
            return
        if fixed.note:
            self.ctx.say(f"Drawn, but {fixed.note}.")
        self.complete(fixed.shape, len(points))

    def complete(self, shape, clicks: int) -> None:
        doc = self.ctx.document
        if add_drawn_shape(self.ctx, shape, "polygon") and doc is not None:
            self.ctx.session.log_labeling(LabelingEntry(
                "polygon", clicks, time.monotonic() - self.started, doc.image_id))


class HoleTool(PolygonTool):
    """Draw a polygon inside the selected instance: that area is cut out of it."""
    name = "hole"

    def press(self, pos, event) -> None:
        doc = self.ctx.document
        if doc is not None and not self.points and len(doc.selected) != 1:
            self.ctx.say("Select the one instance to cut a hole in first.")
            return
        super().press(pos, event)

    def complete(self, shape, clicks: int) -> None:
        doc = self.ctx.document
        if len(doc.selected) != 1 or not doc.editable(doc.selected[0]):
            self.ctx.say("Select the one (unlocked) instance to cut a hole in first.")
            return
        target = doc.instance(doc.selected[0])
        try:
            cut = repair(target.shape.difference(shape)).shape
        except ShapeError:
            self.ctx.say("That hole would remove the whole instance; delete it instead.")
            return
        self.ctx.push(UpdateInstanceCommand(self.ctx.session, doc.image_id, target.id,
                                            text=f"Cut a hole in {target.id}", shape=cut))


class DragShapeTool(Tool):
    """Press, drag, release: a rectangle or an ellipse in the dragged box."""
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, ctx):
        super().__init__(ctx)
        self.start: QPointF | None = None
        self.preview: PreviewItem | None = None

    def press(self, pos, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.ctx.document is not None:
            self.start = pos
            self.preview = PreviewItem(active_color(self.ctx))
            self.ctx.scene.addItem(self.preview)

    def move(self, pos, event) -> None:
        if self.start is not None:
            ring = np.asarray(self.outline(self.start, pos).exterior.coords)
            assert self.preview is not None  # press made it with the start
            self.preview.show_points([QPointF(x, y) for x, y in ring], closed=True)

    def release(self, pos, event) -> None:
        if self.start is None:
            return
        start, self.start = self.start, None
        self.cancel()
        if abs(pos.x() - start.x()) < 1 or abs(pos.y() - start.y()) < 1:
            return
        add_drawn_shape(self.ctx, self.outline(start, pos), self.name)

    def cancel(self) -> None:
        self.start = None
        if self.preview is not None:
            self.ctx.scene.removeItem(self.preview)
            self.preview = None

    def key(self, event) -> bool:
        if event.key() == Qt.Key.Key_Escape and self.start is not None:
            self.cancel()
            return True
        return False

    def outline(self, a: QPointF, b: QPointF) -> Polygon:
        raise NotImplementedError


class RectangleTool(DragShapeTool):
    name = "rectangle"

    def outline(self, a, b) -> Polygon:
        return box(min(a.x(), b.x()), min(a.y(), b.y()), max(a.x(), b.x()), max(a.y(), b.y()))


class EllipseTool(DragShapeTool):
    name = "ellipse"

    def outline(self, a, b) -> Polygon:
        cx, cy = (a.x() + b.x()) / 2, (a.y() + b.y()) / 2
        rx, ry = max(abs(b.x() - a.x()) / 2, 0.5), max(abs(b.y() - a.y()) / 2, 0.5)
        n = int(min(128, max(16, math.pi * (rx + ry) / 3)))
        t = np.linspace(0, 2 * math.pi, n, endpoint=False)
        return Polygon(np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1))
