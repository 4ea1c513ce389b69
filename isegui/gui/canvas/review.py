"""Predictions on the canvas for review: a layer over the labels, or a second view beside
the first (same image, predictions only, zoom and pan in step)."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QPainter
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView

from isegui.gui.canvas.items import ImageItem
from isegui.gui.canvas.predictions import PredictionLayer

BOTH, LABELS, PREDICTIONS, SIDE_BY_SIDE = "both", "labels", "predictions", "side by side"
MODES = {BOTH: "Labels and predictions", LABELS: "Labels only",
         PREDICTIONS: "Predictions only", SIDE_BY_SIDE: "Side by side"}


class SideView(QGraphicsView):
    """The second view of side by side: the picture and the predictions, following the main
    view's zoom and position."""

    def __init__(self, main_view):
        super().__init__()
        self.setScene(QGraphicsScene(self))  # parented: it lives as long as the view
        self.main = main_view
        self.image_item = ImageItem()
        self.scene().addItem(self.image_item)
        self.scene().setBackgroundBrush(QBrush(QColor("#2b2b2b")))
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setInteractive(False)
        main_view.zoomChanged.connect(self.follow)
        main_view.horizontalScrollBar().valueChanged.connect(self.follow)
        main_view.verticalScrollBar().valueChanged.connect(self.follow)

    def follow(self, *_) -> None:
        if not self.isVisible():
            return
        self.setSceneRect(self.main.sceneRect())
        self.setTransform(self.main.transform())
        self.centerOn(self.main.mapToScene(self.main.viewport().rect().center()))


class ReviewController(QObject):
    """What the canvas shows of the predictions of one run for the image on screen."""
    changed = Signal()  # predictions shown, threshold or verdicts changed

    def __init__(self, session, scene, side: SideView):
        super().__init__()
        self.session, self.scene, self.side = session, scene, side
        self.main_layer = PredictionLayer(scene, session)
        self.side_layer = PredictionLayer(side.scene(), session)
        self.run_id: int | None = session.project.active_run_id
        self.mode = BOTH
        self.document = None
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self.reload)
        session.aboutToClose.connect(self._debounce.stop)
        session.documentChanged.connect(self._document_changed)
        session.predictionsChanged.connect(
            lambda image_id: self.document and image_id == self.document.image_id and
            self.reload())

    @property
    def layers(self) -> tuple[PredictionLayer, PredictionLayer]:
        return self.main_layer, self.side_layer

    @property
    def layer(self) -> PredictionLayer:
        """The layer whose verdicts count (both compute the same)."""
        return self.side_layer if self.mode == SIDE_BY_SIDE else self.main_layer

    def _document_changed(self) -> None:
        old, self.document = self.document, self.session.document
        for doc, connect in ((old, False), (self.document, True)):
            if doc is None:
                continue
            for signal in (doc.instanceAdded, doc.instanceChanged, doc.instanceRemoved):
                (signal.connect if connect else signal.disconnect)(self._debounce.start)
        self.side.image_item.setPixmap(self.scene.image_item.pixmap())
        self.reload()

    def set_run(self, run_id: int | None) -> None:
        self.run_id = run_id
        self.reload()

    def predictions(self):
        doc = self.document
        if doc is None or self.run_id is None:
            return []
        return self.session.store.predictions(doc.image_id, self.run_id)

    def reload(self) -> None:
        labels = self.document.instances() if self.document else []
        predictions = self.predictions()
        for layer in self.layers:
            layer.show(predictions, labels)
        self.set_mode(self.mode)

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.scene.set_display(labels_visible=mode != PREDICTIONS)
        self.main_layer.visible = mode in (BOTH, PREDICTIONS)
        self.side_layer.visible = mode == SIDE_BY_SIDE
        self.side.setVisible(mode == SIDE_BY_SIDE)
        for layer in self.layers:
            layer.refresh()
        self.side.follow()
        self.changed.emit()

    def set_threshold(self, threshold: float) -> None:
        for layer in self.layers:
            layer.threshold = threshold
            layer.refresh()
        self.changed.emit()

    def set_by_verdict(self, on: bool) -> None:
        for layer in self.layers:
            layer.by_verdict = on
            layer.refresh()
        self.changed.emit()

    def highlight(self, prediction_id: int | None) -> None:
        for layer in self.layers:
            layer.highlight(prediction_id)
