"""What every tool gets (the context) and what it answers to (mouse and keys on the canvas).
Tools only make commands; they never change the document themselves."""

from __future__ import annotations

from PySide6.QtCore import QObject, QPointF, Qt, Signal


def nudged(value: int, up: bool, low: int, high: int) -> int:
    """One [ or ] step of a size or tolerance: a fifth of it (at least 1), within bounds."""
    step = max(1, value // 5)
    return min(high, value + step) if up else max(low, value - step)


class ToolOptions(QObject):
    """Settings shared by the drawing tools, shown in the tool bar."""
    changed = Signal()

    def __init__(self):
        super().__init__()
        self.snap = False  # new vertices snap to other instances' edges and vertices
        self.clip = False  # new shapes lose what other instances own (edited: those above)
        self.brush_size = 12  # px, diameter
        self.wand_tolerance = 24  # 0-255: how far a colour may be from the clicked one
        self.engine = "auto"  # box -> mask, click -> instance: auto, model or colour (GrabCut)

    def set(self, **values) -> None:
        for key, value in values.items():
            if not hasattr(self, key):
                raise AttributeError(key)
            setattr(self, key, value)
        self.changed.emit()


class ToolContext(QObject):
    """The session, the canvas, the labeling assist (image pixels and the active run's model:
    gui.tools.assist_context) and a place for messages, as tools need them."""
    message = Signal(str)

    def __init__(self, session, view, scene, options: ToolOptions, assist=None):
        super().__init__()
        self.session, self.view, self.scene, self.options = session, view, scene, options
        self.assist = assist

    @property
    def document(self):
        return self.session.document

    def push(self, command) -> None:
        self.session.undo_stack.push(command)

    def tolerance(self, screen_px: float = 8.0) -> float:
        """A distance on screen, in image pixels at the current zoom."""
        return screen_px * self.view.scene_per_screen_px()

    def say(self, text: str) -> None:
        self.message.emit(text)


class Tool:
    name = "tool"
    cursor = Qt.CursorShape.ArrowCursor

    def __init__(self, ctx: ToolContext):
        self.ctx = ctx

    def activate(self) -> None:
        pass

    def deactivate(self) -> None:
        self.cancel()

    def cancel(self) -> None:
        """Drop whatever is in progress."""

    def press(self, pos: QPointF, event) -> None:
        pass

    def move(self, pos: QPointF, event) -> None:
        pass

    def release(self, pos: QPointF, event) -> None:
        pass

    def double_click(self, pos: QPointF, event) -> None:
        pass

    def leave(self) -> None:
        """The mouse left the canvas."""

    def key(self, event) -> bool:
        """True when the tool used the key."""
        return False
