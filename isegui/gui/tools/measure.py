"""Draw a line of known length to calibrate millimetres per pixel."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor

from isegui.gui.canvas.items import PreviewItem
from isegui.gui.tools.base import Tool


INSTRUCTION = ("Draw a line over something of known length (click-drag), then enter its "
               "length in mm; Esc cancels")


class CalibrateTool(Tool):
    name = "calibrate"
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, ctx, on_line=None, on_end=None):
        super().__init__(ctx)
        self.on_line = on_line  # called with the line's length in image pixels
        self.on_end = on_end  # called as the tool is left: on_end(escaped)
        self.start: QPointF | None = None
        self.preview: PreviewItem | None = None

    def activate(self) -> None:
        self.ctx.say(INSTRUCTION)

    def deactivate(self) -> None:
        self.cancel()
        if self.on_end is not None:
            self.on_end(False)

    def key(self, event) -> bool:
        if event.key() != Qt.Key.Key_Escape:
            return False
        self.cancel()
        if self.on_end is not None:
            self.on_end(True)
        return True

    def press(self, pos, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.start = pos
            self.preview = PreviewItem(QColor("#ffeb3b"))
            self.ctx.scene.addItem(self.preview)

    def move(self, pos, event) -> None:
        if self.start is not None:
            length = math.hypot(pos.x() - self.start.x(), pos.y() - self.start.y())
            assert self.preview is not None  # press made it with the start
            self.preview.show_points([self.start, pos], closed=False)
            self.ctx.say(f"{length:.1f} px")

    def release(self, pos, event) -> None:
        if self.start is None:
            return
        length = math.hypot(pos.x() - self.start.x(), pos.y() - self.start.y())
        self.cancel()
        if length >= 2 and self.on_line is not None:
            self.on_line(length)

    def cancel(self) -> None:
        self.start = None
        if self.preview is not None:
            self.ctx.scene.removeItem(self.preview)
            self.preview = None
