"""Class names on the canvas: "class id" above each instance's box, at a constant screen size,
on a dark plate with a swatch of the class colour, readable over any image.

One layer item writes every name, not one text item per instance: a repaint picks the names
in view with numpy and blits a pixmap cached per name, so thousands of instances cost little.
Zoomed far out, an instance smaller than MIN_INSTANCE_PX on screen gets no name: a heap of
overlapping names would hide the image and say nothing."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPixmap
from PySide6.QtWidgets import QGraphicsItem

MIN_INSTANCE_PX = 40  # an instance's longer side on screen, below which it gets no name
TAG_MAX_PX = 240  # the widest name plate; for finding the names an exposed area touches
MAX_CACHED = 5000  # name pixmaps kept; past that the cache starts again


class NameTag(NamedTuple):
    instance_id: int
    text: str
    rect: QRect  # where it was drawn, in viewport pixels


class ClassNameLayer(QGraphicsItem):
    """The names of the scene's instances, drawn above them (and below a tool's preview)."""

    def __init__(self, canvas):
        super().__init__()
        self.canvas = canvas  # the CanvasScene: its items, the session's classes
        self.setZValue(1e8)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self.font = QFont()
        self.font.setPointSizeF(max(8.0, self.font.pointSizeF() * 0.9))
        self._rect = QRectF()
        self._table = None  # ids, boxes and (text, colour), bottom to top
        self._pixmaps: dict[tuple, tuple[QPixmap, int, int]] = {}  # with its size in px
        self.drawn: list[NameTag] = []  # what the last paint drew (tests, tools)

    # ------------------------------------------------------------------ the scene tells it

    def set_area(self, image: QRectF) -> None:
        """The image on screen; names may stick out of it far when zoomed out."""
        self.prepareGeometryChange()
        big = max(image.width(), image.height(), 1.0) * 4
        self._rect = image.adjusted(-big, -big, big, big)
        self.changed()

    def set_shown(self, shown: bool) -> None:
        self.setVisible(shown)
        if not shown:
            self.drawn = []

    def changed(self) -> None:
        """Instances were added, removed, moved or restyled."""
        if self._table is not None:  # once until the next paint: an image opens with thousands
            self._table = None
            self.update()

    # ------------------------------------------------------------------ drawing

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option, widget=None) -> None:
        self.drawn = []
        ids, boxes, tags = self._boxes()
        if not ids:
            return
        t = painter.worldTransform()  # the view scales and scrolls: an affine map
        scale = math.hypot(t.m11(), t.m12()) or 1.0
        exposed = option.exposedRect
        size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * scale
        reach_x, reach_y = TAG_MAX_PX / scale, 30 / scale  # a plate's extent, in scene units
        picked = np.flatnonzero(
            (size >= MIN_INSTANCE_PX) & (boxes[:, 0] <= exposed.right())
            & (boxes[:, 0] + reach_x >= exposed.left())
            & (boxes[:, 1] - reach_y <= exposed.bottom()) & (boxes[:, 3] >= exposed.top()))
        if not len(picked):
            return
        # each plate sits on its box's top-left corner, above it, fixed to that scene point (a
        # pan that scrolls the viewport's pixels moves it rightly)
        x0, y0 = boxes[picked, 0], boxes[picked, 1]
        xs = np.round(t.m11() * x0 + t.m21() * y0 + t.dx()).astype(int).tolist()
        ys = np.round(t.m12() * x0 + t.m22() * y0 + t.dy()).astype(int).tolist()
        dpr = painter.device().devicePixelRatioF() if painter.device() else 1.0
        items = self.canvas.items_by_id
        painter.save()
        painter.resetTransform()  # device pixels from here: the plates keep their size
        for k, x, y in zip(picked.tolist(), xs, ys):
            item = items.get(ids[k])
            if item is None or not item.isVisible():
                continue
            pixmap, w, h = self._pixmap(tags[k], dpr)
            painter.drawPixmap(x, y - h, pixmap)
            self.drawn.append(NameTag(ids[k], tags[k][0], QRect(x, y - h, w, h)))
        painter.restore()

    def _boxes(self) -> tuple[list[int], np.ndarray, list[tuple[str, str]]]:
        """Bottom to top: ids, boxes and (text, colour) of the instances."""
        if self._table is None:
            doc = self.canvas.document
            instances = doc.instances() if doc is not None else []
            boxes = np.array([i.shape.bounds for i in instances], float).reshape(-1, 4)
            self._table = ([i.id for i in instances], boxes, [self._tag(i) for i in instances])
        return self._table

    def _tag(self, instance) -> tuple[str, str]:
        cls = self.canvas.session.class_by_id(instance.class_id)
        name = cls.name if cls else ("ignore" if instance.crowd else "no class")
        return f"{name} {instance.id}", self.canvas.instance_color(instance).name()

    def _pixmap(self, tag: tuple[str, str], dpr: float) -> tuple[QPixmap, int, int]:
        key = (*tag, dpr)
        found = self._pixmaps.get(key)
        if found is None:
            if len(self._pixmaps) >= MAX_CACHED:
                self._pixmaps.clear()
            pixmap = _plate(tag[0], QColor(tag[1]), self.font, dpr)
            found = self._pixmaps[key] = (pixmap, round(pixmap.width() / dpr),
                                          round(pixmap.height() / dpr))
        return found


def _plate(text: str, color: QColor, font: QFont, dpr: float) -> QPixmap:
    """White text on a dark, slightly see-through plate, a bar of the class colour on its
    left."""
    metrics = QFontMetrics(font)
    bar, pad = 4, 4
    w = bar + 2 * pad + metrics.horizontalAdvance(text)
    h = metrics.height() + 2
    pixmap = QPixmap(math.ceil(w * dpr), math.ceil(h * dpr))
    pixmap.setDevicePixelRatio(dpr)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(0, 0, 0, 175))
    painter.drawRoundedRect(QRectF(0, 0, w, h), 3, 3)
    painter.setBrush(color)
    painter.drawRect(QRectF(0, 0, bar, h))
    painter.setPen(QColor("#ffffff"))
    painter.setFont(font)
    painter.drawText(QRectF(bar + pad, 0, w - bar - pad, h),
                     Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
    painter.end()
    return pixmap
