"""Predictions on the canvas for review: a layer over the labels, or a second view beside
the first (same image, predictions only, zoom and pan in step)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QPainter
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView, QSplitter

from isegui.core.entities import ImageStatus
from isegui.gui.canvas.items import ImageItem
from isegui.gui.canvas.predictions import PredictionLayer
from isegui.gui.document import ImageDocument

BOTH, LABELS, PREDICTIONS, SIDE_BY_SIDE = "both", "labels", "predictions", "side by side"
SLACK = 100_000  # scene px around the side view's scene rect: centerOn is then never clamped
MODES = {BOTH: "Labels and predictions", LABELS: "Labels only",
         PREDICTIONS: "Predictions only", SIDE_BY_SIDE: "Side by side"}


class SideView(QGraphicsView):
    """The second view of side by side: the picture and the predictions, showing exactly the
    main view's region (same transform, same centre) as it zooms, pans and resizes; the wheel
    over it zooms both."""

    def __init__(self, main_view):
        super().__init__()
        self.setScene(QGraphicsScene(self))  # parented: it lives as long as the view
        self.main = main_view
        self.image_item = ImageItem()
        self.scene().addItem(self.image_item)
        self.scene().setBackgroundBrush(QBrush(QColor("#2b2b2b")))
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setInteractive(False)
        self.setFrameShape(main_view.frameShape())
        # its position is the main view's: scroll bars of its own would only shift it
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        main_view.zoomChanged.connect(self.follow)
        main_view.horizontalScrollBar().valueChanged.connect(self.follow)
        main_view.verticalScrollBar().valueChanged.connect(self.follow)
        main_view.viewport().installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.follow()
        return False

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.follow()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.follow()

    def wheelEvent(self, event) -> None:
        self.main.wheelEvent(event)  # the same point is under the cursor in both views

    def split_evenly(self) -> None:
        """Both views the same size: halves of the splitter they share."""
        splitter = self.parentWidget()
        if isinstance(splitter, QSplitter):
            width = sum(splitter.sizes())
            splitter.setSizes([width - width // 2, width // 2])

    def follow(self, *_) -> None:
        if not self.isVisible() or self.main.scene() is None:
            return
        # the picture of the image on screen (the main scene loads it after the documentChanged
        # handlers that run before its own; by the fit that follows, it has)
        picture = self.main.scene().image_item.pixmap()
        if picture.cacheKey() != self.image_item.pixmap().cacheKey():
            self.image_item.setPixmap(picture)
        # a viewport of the main one's size (its scroll bars' room left empty), a scene rect
        # with room to centre on any point, the same transform and the same centre
        main, margins = self.main.viewport(), self.viewportMargins()
        self.setViewportMargins(
            0, 0, max(0, self.viewport().width() + margins.right() - main.width()),
            max(0, self.viewport().height() + margins.bottom() - main.height()))
        self.setSceneRect(self.main.sceneRect().adjusted(-SLACK, -SLACK, SLACK, SLACK))
        self.setTransform(self.main.transform())
        self.centerOn(self.main.mapToScene(main.rect().center()))
        # centerOn rounds; then the scene point at the main view's corner goes to this one's
        corner = self.main.viewportTransform().inverted()[0].map(QPointF(0, 0))
        drift = self.viewportTransform().map(corner)
        for bar, delta in ((self.horizontalScrollBar(), drift.x()),
                           (self.verticalScrollBar(), drift.y())):
            bar.setValue(bar.value() + round(delta))


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
        self.document: ImageDocument | None = None
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self.reload)
        session.aboutToClose.connect(self._debounce.stop)
        session.documentChanged.connect(self._document_changed)
        session.predictionsChanged.connect(
            lambda image_id: self.document and image_id == self.document.image_id and
            self.reload())
        session.imageEdited.connect(  # marked labeled: now its predictions can be judged
            lambda image_id: self.document and image_id == self.document.image_id and
            self._debounce.start())

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
        # only an image its person marked labeled (or reviewed) holds the truth: one in
        # progress may lack labels, so its predictions are neither right nor wrong
        judged = self.document is not None and \
            self.document.record.status in (ImageStatus.LABELED, ImageStatus.REVIEWED)
        for layer in self.layers:
            layer.judged = judged
            layer.show(predictions, labels)
        self.set_mode(self.mode)

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.scene.set_display(labels_visible=mode != PREDICTIONS)
        self.main_layer.visible = mode in (BOTH, PREDICTIONS)
        self.side_layer.visible = mode == SIDE_BY_SIDE
        was_side = self.side.isVisible()
        self.side.setVisible(mode == SIDE_BY_SIDE)
        if mode == SIDE_BY_SIDE and not was_side:
            self.side.split_evenly()  # a fitted main view fits its half as it resizes
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

    def highlight(self, prediction_id: int | None, center: bool = True) -> None:
        """Emphasise one prediction in both views; bring it into view when it is out."""
        items = [layer.highlight(prediction_id) for layer in self.layers]
        item = items[1] if self.mode == SIDE_BY_SIDE else items[0]
        if not center or item is None:
            return
        view = self.side.main
        shown = view.mapToScene(view.viewport().rect()).boundingRect()
        if not shown.contains(item.sceneBoundingRect()):
            view.centerOn(item.sceneBoundingRect().center())
