"""Predictions on the canvas: each mask's outline, its box and "class score" label; coloured
by class, or by verdict against the labels (right green, wrong red, missed labels orange)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsSimpleTextItem

from isegui.core.compare import Comparison, compare
from isegui.core.entities import Instance, Prediction, Source
from isegui.gui.canvas.paths import shape_path

RIGHT, WRONG, MISSED = "#43a047", "#e53935", "#fb8c00"


class PredictionItem(QGraphicsItem):
    def __init__(self, prediction: Prediction, name: str, color: str):
        super().__init__()
        self.prediction = prediction
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(5e8)
        self.path = shape_path(prediction.shape)
        minx, miny, maxx, maxy = prediction.shape.bounds
        self.box = QRectF(minx, miny, maxx - minx, maxy - miny)
        self.color = QColor(color)
        self.highlight = False
        self.label = QGraphicsSimpleTextItem(f"{name} {prediction.score:.2f}", self)
        self.label.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        font = QFont()
        font.setPointSize(8)
        self.label.setFont(font)
        self.label.setPos(minx, miny)
        self.set_color(color)

    def set_color(self, color: str) -> None:
        self.color = QColor(color)
        self.label.setBrush(QBrush(self.color.lighter(140)))
        self.update()

    def boundingRect(self) -> QRectF:
        return self.box.adjusted(-4, -4, 4, 4)

    def set_emphasis(self, highlight: bool, dimmed: bool) -> None:
        """The selected prediction: a thick solid outline, a strong fill, on top; the others
        faded while one is selected."""
        self.highlight = highlight
        self.setZValue(5e8 + 1 if highlight else 5e8)
        self.setOpacity(0.3 if dimmed else 1.0)
        self.update()

    def paint(self, painter: QPainter, option, widget=None) -> None:
        fill = QColor(self.color)
        fill.setAlphaF(0.45 if self.highlight else 0.18)
        pen = QPen(self.color.lighter(130) if self.highlight else self.color,
                   4 if self.highlight else 1.5,
                   Qt.PenStyle.SolidLine if self.highlight else Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(QBrush(fill))
        painter.drawPath(self.path)
        box_pen = QPen(self.color, 1)
        box_pen.setCosmetic(True)
        painter.setPen(box_pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(self.box)


class MissedItem(QGraphicsItem):
    """A label no prediction found (at the current confidence)."""

    def __init__(self, instance: Instance):
        super().__init__()
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(5e8 - 1)
        self.path = shape_path(instance.shape)

    def boundingRect(self) -> QRectF:
        return self.path.boundingRect().adjusted(-4, -4, 4, 4)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        pen = QPen(QColor(MISSED), 3, Qt.PenStyle.DotLine)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path)


class PredictionLayer:
    """The prediction items of one image in one scene, with the confidence threshold and the
    verdict colouring applied."""

    def __init__(self, scene, session):
        self.scene, self.session = scene, session
        self.items: dict[int, PredictionItem] = {}
        self.missed: list[MissedItem] = []
        self.threshold = 0.5
        self.by_verdict = False
        self.judged = True  # the image is labeled: its labels are the truth to judge against
        self.visible = True
        self.comparison = Comparison()
        self.highlighted: int | None = None
        self._predictions: list[Prediction] = []
        self._labels: list[Instance] = []

    def show(self, predictions: list[Prediction], labels: list[Instance]) -> None:
        self.clear()
        self._predictions, self._labels = predictions, [i for i in labels if not i.crowd]
        for p in predictions:
            cls = self.session.class_by_id(p.class_id)
            item = PredictionItem(p, cls.name if cls else "?", cls.color if cls else "#ffffff")
            self.items[p.id] = item
            self.scene.addItem(item)
        self.highlight(self.highlighted)
        self.refresh()

    def clear(self) -> None:
        for item in list(self.items.values()) + self.missed:
            if item.scene() is not None:
                self.scene.removeItem(item)
        self.items.clear()
        self.missed = []

    def refresh(self) -> None:
        """Apply the threshold, the colouring and the visibility."""
        self.comparison = compare(
            [(i.class_id, i.shape) for i in self._labels],
            [(p.class_id, p.shape, p.score) for p in self._predictions], self.threshold)
        wrong = set(self.comparison.false_positives)
        for k, p in enumerate(self._predictions):
            item = self.items[p.id]
            item.setVisible(self.visible and p.score >= self.threshold)
            if self.by_verdict and self.judged:
                item.set_color(WRONG if k in wrong else RIGHT)
            else:
                cls = self.session.class_by_id(p.class_id)
                item.set_color(cls.color if cls else "#ffffff")
        for missed_item in self.missed:
            self.scene.removeItem(missed_item)
        self.missed = []
        if self.by_verdict and self.judged and self.visible:
            for j in self.missed_labels:
                missed_item = MissedItem(self._labels[j])
                self.scene.addItem(missed_item)
                self.missed.append(missed_item)

    @property
    def accepted_labels(self) -> list[int]:
        """Labels that are accepted predictions no prediction still matches: right, by the
        user's word (the prediction itself left the list when it became the label)."""
        found = set(self.comparison.true_positives.values())
        return [j for j, label in enumerate(self._labels)
                if label.source == Source.ACCEPTED_PREDICTION and j not in found]

    @property
    def right(self) -> int:
        return len(self.comparison.true_positives) + len(self.accepted_labels)

    @property
    def missed_labels(self) -> list[int]:
        accepted = set(self.accepted_labels)
        return [j for j in self.comparison.false_negatives if j not in accepted]

    def highlight(self, prediction_id: int | None) -> PredictionItem | None:
        """Emphasise one prediction (None: none); its item, if this layer has it."""
        self.highlighted = prediction_id if prediction_id in self.items else None
        for pid, item in self.items.items():
            item.set_emphasis(pid == self.highlighted,
                              self.highlighted is not None and pid != self.highlighted)
        return self.items.get(self.highlighted) if self.highlighted is not None else None

    def verdict(self, prediction: Prediction) -> str:
        k = next((n for n, p in enumerate(self._predictions) if p.id == prediction.id), None)
        if k is None or prediction.score < self.threshold:
            return "below threshold"
        if not self.judged:
            return "—"  # nothing to judge it against yet
        if k in self.comparison.wrong_class:
            return "wrong class"
        return "right" if k in self.comparison.true_positives else "wrong"
