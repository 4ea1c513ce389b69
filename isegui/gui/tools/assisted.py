"""Tools that find the outline for the user: box -> mask and click -> instance (the active
run's model, GrabCut without one), the edge-following polygon (Intelligent Scissors) and the
magic wand. Each result is one undo step and an ordinary instance, editable after."""

from __future__ import annotations

import math
import time
from contextlib import contextmanager

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QApplication, QGraphicsPathItem

from isegui.core.entities import Source
from isegui.core.errors import ShapeError
from isegui.core.geometry import (bounds_window, polygon_from_points, rasterize, repair,
                                  vectorize)
from isegui.core.labeling_aids import ClickSession, EdgeTracer, grabcut, magic_wand, next_click
from isegui.core.labeling_log import LabelingEntry
from isegui.core.mask_window import MaskWindow
from isegui.gui.canvas.items import PreviewItem
from isegui.gui.canvas.paths import shape_path
from isegui.gui.tools.assist_context import Use
from isegui.gui.commands.instance_commands import AddInstanceCommand, UpdateInstanceCommand
from isegui.gui.tools.base import Tool, nudged
from isegui.gui.tools.draw import CLOSE_PX, RectangleTool, active_color, add_drawn_shape
from isegui.gui.tools.shape_ops import clipped

SIMPLIFY_PX = 0.75  # traced outlines follow pixels; this keeps their shape with fewer vertices


@contextmanager
def busy():
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        yield
    finally:
        QApplication.restoreOverrideCursor()


def add_found(ctx, window: MaskWindow | None, class_id: int | None, what: str,
              source: Source = Source.MANUAL) -> bool:
    """A new instance from a found mask (clipped if asked); False when there was none."""
    doc, session = ctx.document, ctx.session
    if window is None:
        ctx.say(f"{what}: nothing found there.")
        return False
    cls = session.class_by_id(class_id)
    if cls is None:
        ctx.say("Add a class first (Classes panel).")
        return False
    drawn = vectorize(window.mask, window.origin)
    shape = clipped(drawn, [i.shape for i in doc.instances() if not i.crowd]) \
        if ctx.options.clip else drawn
    if shape is None or shape.is_empty:
        ctx.say("Nothing left: other instances already own all of that area.")
        return False
    ctx.push(AddInstanceCommand(session, doc.image_id, cls.id, shape, source=source,
                                text=f"{what} ({cls.name})"))
    return True


def refit_shape(ctx, instance, margin: float = 0.1):
    """An instance of another frame re-fitted to the open image: the project's click model
    from the old outline and a click deep inside it, else the model's mask on its box (grown
    by `margin` for the object's motion), GrabCut's without a model; None when none finds it
    (the shape is then copied as it was)."""
    assist = ctx.assist
    image = assist.rgb()
    if image is None or instance.crowd:
        return None
    click_model = assist.click_model()
    if click_model is not None:
        height, width = image.shape[:2]
        x0, y0, x1, y1 = bounds_window(instance.shape, height, width)
        old = MaskWindow.trimmed(rasterize(instance.shape, y1 - y0, x1 - x0, (x0, y0)),
                                 (x0, y0))
        inside = next_click(np.zeros_like(old.mask), old.mask) if old is not None else None
        if old is not None and inside is not None:
            (x, y), _ = inside
            found = click_model(image, [((x + old.origin[0], y + old.origin[1]), True)], old)
            if found is not None:
                return vectorize(found.mask, found.origin)
    x0, y0, x1, y1 = instance.shape.bounds
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    box = (x0 - mx, y0 - my, x1 + mx, y1 + my)
    found = assist.segment_box(box, assist.class_index_for(instance.class_id))
    window = MaskWindow(found.mask, found.origin) if found is not None else \
        grabcut(image, box)
    return vectorize(window.mask, window.origin) if window is not None else None


class MaskPreview(QGraphicsPathItem):
    """A candidate mask, with the clicks that made it (green: object, red: background)."""

    def __init__(self, color: QColor):
        super().__init__()
        self.setZValue(1e9)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        pen = QPen(QColor("#ffff00"))
        pen.setCosmetic(True)
        pen.setWidthF(2.0)
        self.setPen(pen)
        fill = QColor(color)
        fill.setAlphaF(0.45)
        self.setBrush(QBrush(fill))
        self.dots: list[QGraphicsPathItem] = []

    def show_candidate(self, window: MaskWindow | None, clicks, radius: float) -> None:
        self.setPath(shape_path(vectorize(window.mask, window.origin)) if window is not None
                     else QPainterPath())
        for dot in self.dots:
            dot.setParentItem(None)  # type: ignore[arg-type]  # Qt takes nullptr; the stub says no
            if dot.scene() is not None:
                dot.scene().removeItem(dot)
        self.dots = []
        for (x, y), positive in clicks:
            dot = QGraphicsPathItem(self)
            path = QPainterPath()
            path.addEllipse(QPointF(x, y), radius, radius)
            dot.setPath(path)
            dot.setBrush(QColor("#20d020" if positive else "#e02020"))
            pen = QPen(QColor("#ffffff"))
            pen.setCosmetic(True)
            dot.setPen(pen)
            self.dots.append(dot)


class BoxMaskTool(RectangleTool):
    """Drag a box around an object: the model's mask for it (its class from the model; with
    Shift, the active class), or GrabCut's (engine "colour", no trained run, or with "auto" a
    model's answer below the bar)."""
    name = "box-mask"
    pressed = 0.0  # when the box was begun (the labeling log's seconds)

    def activate(self) -> None:
        self.ctx.assist.preload()

    def press(self, pos, event) -> None:
        super().press(pos, event)
        self.pressed = time.monotonic()

    def release(self, pos, event) -> None:
        if self.start is None:
            return
        start = self.start
        self.cancel()
        box = (min(start.x(), pos.x()), min(start.y(), pos.y()),
               max(start.x(), pos.x()), max(start.y(), pos.y()))
        if box[2] - box[0] < 2 or box[3] - box[1] < 2:
            return
        own_class = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        pressed = self.pressed
        if self.segment(box, own_class) and self.ctx.document is not None:
            self.ctx.session.log_labeling(LabelingEntry(
                "box-mask", 2, time.monotonic() - pressed, self.ctx.document.image_id))

    def cancel(self) -> None:
        super().cancel()
        self.ctx.assist.drop_waiting()

    def key(self, event) -> bool:
        if event.key() == Qt.Key.Key_Escape and self.ctx.assist.waiting:
            self.cancel()
            return True
        return super().key(event)

    def segment(self, box, own_class: bool = False) -> bool:
        ctx = self.ctx
        assist = ctx.assist
        use = assist.use(lambda: self.segment(box, own_class))
        if use is Use.WAIT:
            return False
        with busy():
            if assist.rgb() is None:
                ctx.say("The image cannot be read.")
                return False
            if use is Use.MODEL:
                wanted = assist.class_index_for(ctx.session.active_class_id) \
                    if own_class else None
                found = assist.segment_box(box, wanted)
                if found is not None:
                    class_id = ctx.session.active_class_id if own_class else \
                        assist.class_id_for(found.class_index)
                    done = add_found(ctx, MaskWindow(found.mask, found.origin), class_id,
                                     "Box → mask", Source.ACCEPTED_PREDICTION)
                    if done:
                        ctx.say(f"Box → mask by the model (score {found.score:.2f}).")
                    return done
            window = grabcut(assist.rgb(), box)
        done = add_found(ctx, window, ctx.session.active_class_id, "Box → mask (GrabCut)")
        if done:
            ctx.say(f"Box → mask by GrabCut: {assist.why_colour}." if assist.why_colour
                    else "Box → mask by GrabCut (colour).")
        return done


class ClickTool(Tool):
    """Click an object: the model's best detection there (GrabCut without one), refined by
    the project's click model when it has one, shows as a candidate; more clicks refine it
    (left: object, right or Shift: background; Backspace takes the last one back); Enter adds
    it, Esc drops it. Each instance added is written in the labeling log."""
    name = "click"
    cursor = Qt.CursorShape.PointingHandCursor

    def __init__(self, ctx):
        super().__init__(ctx)
        self.outlining: ClickSession | None = None  # the object being clicked out
        self.preview: MaskPreview | None = None
        self.image_id: int | None = None
        self.started = 0.0  # when its first click came (the labeling log's seconds)

    def activate(self) -> None:
        self.ctx.assist.preload()

    def press(self, pos, event) -> None:
        if event.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return
        positive = event.button() == Qt.MouseButton.LeftButton and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        self.click_at((pos.x(), pos.y()), positive)

    def click_at(self, point: tuple[float, float], positive: bool) -> None:
        doc, assist = self.ctx.document, self.ctx.assist
        if doc is None:
            return
        if self.outlining is not None and self.image_id != doc.image_id:
            self.cancel()
        if self.outlining is None:
            use = assist.use(lambda: self.click_at(point, positive), detections=True)
            if use is Use.WAIT:
                return
            image = assist.rgb()
            if image is None:
                self.ctx.say("The image cannot be read.")
                return
            model = use is Use.MODEL
            self.outlining = ClickSession(image, assist.segment_box if model else None,
                                          assist.detections if model else None,
                                          click_model=assist.click_model())
            self.image_id = doc.image_id
            self.started = time.monotonic()
        with busy():
            self.outlining.click(point, positive)
        self._show()

    def key(self, event) -> bool:
        k = event.key()
        if k == Qt.Key.Key_Escape and self.ctx.assist.waiting:
            self.cancel()
            return True
        if self.outlining is None:
            return False
        if k in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.accept()
            return True
        if k == Qt.Key.Key_Escape:
            self.cancel()
            return True
        if k == Qt.Key.Key_Backspace:
            self.outlining.undo()
            self._show()
            return True
        return False

    def accept(self) -> bool:
        outlining, self.outlining = self.outlining, None
        self.cancel()
        if outlining is None or outlining.current is None or \
                self.image_id != getattr(self.ctx.document, "image_id", None):
            return False
        assist = self.ctx.assist
        if outlining.class_index is not None:
            class_id = assist.class_id_for(outlining.class_index)
            source = Source.ACCEPTED_PREDICTION
        else:
            class_id, source = self.ctx.session.active_class_id, Source.MANUAL
        added = add_found(self.ctx, outlining.current, class_id, "Click → instance", source)
        if added:
            self.ctx.session.log_labeling(LabelingEntry(
                "click", len(outlining.clicks), time.monotonic() - self.started,
                self.image_id or 0, tuple((x, y, p) for (x, y), p in outlining.clicks)))
        return added

    def cancel(self) -> None:
        self.outlining = None
        self.ctx.assist.drop_waiting()
        if self.preview is not None:
            self.ctx.scene.removeItem(self.preview)
            self.preview = None

    def _show(self) -> None:
        if self.outlining is None:
            return
        if self.preview is None:
            self.preview = MaskPreview(active_color(self.ctx))
            self.ctx.scene.addItem(self.preview)
        self.preview.show_candidate(self.outlining.current, self.outlining.clicks,
                                    self.ctx.tolerance(4))
        if self.outlining.current is None:
            self.ctx.say("Nothing found at that point: click inside an object.")
            return
        engine = "the model" if self.outlining.class_index is not None else \
            "GrabCut" + (f" ({self.ctx.assist.why_colour})" if self.ctx.assist.why_colour
                         else "")
        self.ctx.say(f"Found by {engine}. Enter adds it, Esc drops it; click again to refine "
                     "(right click or Shift: not part of it).")


class ScissorsTool(Tool):
    """An outline that follows the object's edges between clicked anchors (Intelligent
    Scissors): it snaps to the edge as the mouse moves. Close on the first anchor or with
    Enter; Backspace takes the last anchor back; Esc cancels."""
    name = "scissors"
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, ctx):
        super().__init__(ctx)
        self.segments: list[list[tuple[int, int]]] = []  # the traced path up to each anchor
        self.anchors: list[tuple[float, float]] = []
        self.tracer: EdgeTracer | None = None
        self.preview: PreviewItem | None = None

    def press(self, pos, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.ctx.document is None:
            return
        point = (pos.x(), pos.y())
        if len(self.anchors) >= 3 and math.dist(point, self.anchors[0]) <= \
                self.ctx.tolerance(CLOSE_PX):
            self.finish()
            return
        image = self.ctx.assist.rgb()
        if image is None:
            self.ctx.say("The image cannot be read.")
            return
        if self.tracer is None:
            self.tracer = EdgeTracer(image)
        else:
            self.segments.append(self.tracer.path_to(point))
        self.anchors.append(point)
        with busy():
            self.tracer.start(point)
        self._show(self.tracer.path_to(point))

    def move(self, pos, event) -> None:
        if self.tracer is not None and self.anchors:
            self._show(self.tracer.path_to((pos.x(), pos.y())))

    def key(self, event) -> bool:
        if not self.anchors:
            return False
        k = event.key()
        if k in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.finish()
            return True
        if k == Qt.Key.Key_Escape:
            self.cancel()
            return True
        if k == Qt.Key.Key_Backspace:
            self.anchors.pop()
            if self.segments:
                self.segments.pop()
            if self.anchors:
                assert self.tracer is not None  # the first anchor made it
                with busy():
                    self.tracer.start(self.anchors[-1])
                self._show([])
            else:
                self.cancel()
            return True
        return False

    def outline(self, last: list[tuple[int, int]]) -> list[tuple[float, float]]:
        points: list[tuple[float, float]] = []
        for segment in [*self.segments, last]:
            for x, y in segment:  # paths run through pixel centres
                p = (x + 0.5, y + 0.5)
                if not points or points[-1] != p:
                    points.append(p)
        return points

    def finish(self) -> None:
        closing = self.tracer.path_to(self.anchors[0]) if self.tracer else []
        points = self.outline(closing)
        self.cancel()
        if len(points) < 3:
            self.ctx.say("An outline needs at least 3 points.")
            return
        try:
            fixed = polygon_from_points(points)
            shape = repair(fixed.shape.simplify(SIMPLIFY_PX)).shape
        except ShapeError as exc:
            self.ctx.say(f"Not drawn: {exc}.")
            return
        add_drawn_shape(self.ctx, shape, "edge-following outline")

    def cancel(self) -> None:
        self.segments, self.anchors, self.tracer = [], [], None
        if self.preview is not None:
            self.ctx.scene.removeItem(self.preview)
            self.preview = None

    def _show(self, last: list[tuple[int, int]]) -> None:
        if self.preview is None:
            self.preview = PreviewItem(active_color(self.ctx))
            self.preview.setBrush(Qt.BrushStyle.NoBrush)  # an open outline: its line only
            self.ctx.scene.addItem(self.preview)
        self.preview.show_points([QPointF(x, y) for x, y in self.outline(last)], closed=False)


class WandTool(Tool):
    """Click: the region of similar colour around the point (within the tolerance, [ and ]
    change it) becomes a new instance of the active class, or is added to the selected
    instance where it touches it (anywhere with Ctrl); with Shift it is cut from the selected
    instance. A click on a pit never grows a selected scratch across the frame."""
    name = "wand"
    cursor = Qt.CursorShape.CrossCursor

    def press(self, pos, event) -> None:
        ctx, doc = self.ctx, self.ctx.document
        if doc is None or event.button() != Qt.MouseButton.LeftButton:
            return
        cut = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        target = doc.instance(doc.selected[0]) if len(doc.selected) == 1 else None
        if target is not None and not doc.editable(target.id):
            ctx.say("The selected instance is locked.")
            return
        if cut and target is None:
            ctx.say("Select the one instance to cut from first.")
            return
        image = ctx.assist.rgb()
        if image is None:
            ctx.say("The image cannot be read.")
            return
        window = magic_wand(image, (pos.x(), pos.y()), ctx.options.wand_tolerance)
        if window is None:
            return
        region = vectorize(window.mask, window.origin)
        joined = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if target is not None and not cut and not joined and not region.intersects(
                target.shape):
            target = None  # apart from the selection: an object of its own
        if target is None:
            add_found(ctx, window, ctx.session.active_class_id, "Magic wand")
            return
        try:
            shape = repair(target.shape.difference(region) if cut
                           else target.shape.union(region)).shape
        except ShapeError:
            ctx.say("That would remove the whole instance; delete it instead.")
            return
        verb = "Wand cut from" if cut else "Wand added to"
        ctx.push(UpdateInstanceCommand(ctx.session, doc.image_id, target.id,
                                       text=f"{verb} {target.id}", shape=shape))

    def key(self, event) -> bool:
        k = event.key()
        if k in (Qt.Key.Key_BracketRight, Qt.Key.Key_BracketLeft):
            self.ctx.options.set(wand_tolerance=nudged(self.ctx.options.wand_tolerance,
                                                       k == Qt.Key.Key_BracketRight, 0, 255))
            return True
        return False
