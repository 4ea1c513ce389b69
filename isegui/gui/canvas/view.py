"""The canvas widget: zoom to the cursor, pan, fit, 1:1; mouse and keys go to the tool."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QFrame, QGraphicsView

from isegui.gui.canvas.scene import CanvasScene

ZOOM_STEP = 1.25
MIN_SCALE, MAX_SCALE = 0.01, 64.0


class CanvasView(QGraphicsView):
    cursorMoved = Signal(QPointF)  # scene position under the mouse
    zoomChanged = Signal(float)

    def __init__(self, scene):
        super().__init__(scene)
        self.tool = None
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        # zoom_by keeps its anchor itself: Qt's AnchorUnderMouse reads the global cursor
        # position (not the wheel event's), and a translate() on top of it moved the view twice
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pan_from: QPointF | None = None
        self._space_down = False
        self._fitting = True  # keep the image fitted as the window resizes, until a zoom

    # ------------------------------------------------------------------ zoom and pan

    @property
    def scale_factor(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the scene point at `anchor` (viewport pixels; default: the centre)
        where it is, as far as the scene rect lets the view scroll."""
        self._fitting = False
        target = min(MAX_SCALE, max(MIN_SCALE, self.scale_factor * factor))
        factor = target / self.scale_factor
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        fixed = self.viewportTransform().inverted()[0].map(anchor)
        self.scale(factor, factor)
        # scroll so that `fixed` is back under the anchor (the bars count whole pixels)
        drift = self.viewportTransform().map(fixed) - anchor
        for bar, delta in ((self.horizontalScrollBar(), drift.x()),
                           (self.verticalScrollBar(), drift.y())):
            bar.setValue(bar.value() + round(delta))
        self.zoomChanged.emit(self.scale_factor)

    def fit(self) -> None:
        scene = self.scene()
        assert isinstance(scene, CanvasScene)  # the view's scene (its __init__)
        doc = scene.document
        self._fitting = True
        if doc is None:
            return
        self.fitInView(QRectF(0, 0, doc.record.width, doc.record.height),
                       Qt.AspectRatioMode.KeepAspectRatio)
        self.zoomChanged.emit(self.scale_factor)

    def actual_size(self) -> None:
        self._fitting = False
        center = self.mapToScene(self.viewport().rect().center())
        self.resetTransform()
        self.centerOn(center)
        self.zoomChanged.emit(self.scale_factor)

    def scene_per_screen_px(self) -> float:
        return 1.0 / max(1e-9, self.scale_factor)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fitting:
            self.fit()

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(ZOOM_STEP ** steps, event.position())
        event.accept()

    # ------------------------------------------------------------------ events to the tool

    def _pan_start(self, event) -> bool:
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (
                button == Qt.MouseButton.LeftButton and self._space_down):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return True
        return False

    def mousePressEvent(self, event) -> None:
        self.setFocus()
        if self._pan_start(event):
            return
        if self.tool is not None:
            self.tool.press(self.mapToScene(event.position().toPoint()), event)

    def mouseMoveEvent(self, event) -> None:
        pos = self.mapToScene(event.position().toPoint())
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            return
        self.cursorMoved.emit(pos)
        if self.tool is not None:
            self.tool.move(pos, event)

    def mouseReleaseEvent(self, event) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            self.viewport().unsetCursor()
            if self.tool is not None:
                self.viewport().setCursor(self.tool.cursor)
            return
        if self.tool is not None:
            self.tool.release(self.mapToScene(event.position().toPoint()), event)

    def viewportEvent(self, event) -> bool:
        if event.type() == QEvent.Type.Leave and self.tool is not None:
            self.tool.leave()
        return super().viewportEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        if self.tool is not None:
            self.tool.double_click(self.mapToScene(event.position().toPoint()), event)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if self.tool is not None and self.tool.key(event):
            return
        if event.key() == Qt.Key.Key_Escape and self.tool is not None:
            # nothing in progress for the tool: Esc clears the selection, in every tool
            doc = self.tool.ctx.document
            if doc is not None and doc.selected:
                doc.set_selection([])
                return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.viewport().unsetCursor()
            if self.tool is not None:
                self.viewport().setCursor(self.tool.cursor)
            return
        super().keyReleaseEvent(event)

    def set_tool(self, tool) -> None:
        if self.tool is not None:
            self.tool.deactivate()
        self.tool = tool
        if tool is not None:
            tool.activate()
            self.viewport().setCursor(tool.cursor)
