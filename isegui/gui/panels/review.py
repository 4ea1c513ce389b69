"""Review: predict with a run's model (this image or all, in a worker), see the predictions
over or beside the labels with a live confidence threshold, right/wrong/missed colours,
accept or reject them, find the images with the most errors, open the run's metrics."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout, QLabel,
                               QListWidget, QListWidgetItem, QMessageBox, QProgressBar,
                               QPushButton, QSlider, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from isegui.core.compare import images_by_errors
from isegui.core.entities import ImageStatus, Split
from isegui.gui.canvas.review import MODES
from isegui.gui.commands.prediction_commands import (AcceptPredictionsCommand,
                                                     RejectPredictionsCommand)
from isegui.gui.panels.review_accept import (ADD, REPLACE, SKIP, ask_about_matches,
                                             matched_labels)
from isegui.gui.workers.predict_worker import PredictWorker
from isegui.ml.model.loaded_model import LoadedModel
from isegui.ml.runs import RunNotFound, checkpoint_file


class ReviewPanel(QWidget):
    def __init__(self, session, controller, loaded_model: LoadedModel | None = None):
        super().__init__()
        self.session, self.controller = session, controller
        self.worker: PredictWorker | None = None
        # kept between Predict clicks, and shared with the assisted labeling tools
        self.loaded_model = loaded_model or LoadedModel()
        self.run = QComboBox()
        self.run.setToolTip("Whose predictions to show and make (default: the active run)")
        self.predict_image = QPushButton("Predict this image")
        self.predict_all = QPushButton("Predict all images")
        self.predict_listed = QPushButton("Predict the listed images")
        self.predict_listed.setToolTip("The images the image list shows (filter it first)")
        # the window connects the image list
        self.listed_images: Callable[[], list[int]] = lambda: []
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.hide()  # while predicting
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setValue(50)
        self.slider.setToolTip("Confidence: predictions below it are hidden and not counted")
        self.slider_label = QLabel("0.50")
        self.mode = QComboBox()
        for key, text in MODES.items():
            self.mode.addItem(text, key)
        self.by_verdict = QCheckBox("Colour right (green), wrong (red), missed (orange)")
        self.by_verdict.setToolTip("Against the labels at mask IoU 0.5")
        self.counts = QLabel()
        self.counts.setWordWrap(True)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Class", "Score", "Verdict", "Area"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setMinimumHeight(self.fontMetrics().height() * 9)  # header and 5 rows
        self.accept = QPushButton("Accept")
        self.accept.setToolTip("The selected predictions become labels (undoable)")
        self.reject = QPushButton("Reject")
        self.accept_all = QPushButton("Accept all above the confidence")
        self.worst = QListWidget()
        self.worst.setToolTip("Images with predictions, most errors first; click to open")
        self.sort_button = QPushButton("List images by errors")
        self.metrics_button = QPushButton("Run metrics…")
        self.metrics_button.setToolTip("Per-class AP, confusion matrix and PR curve on the val "
                                       "split")
        self.rules_button = QPushButton("Line rules…")
        self.rules_button.setToolTip("OK / NG tolerances for the line, set beside this run's "
                                     "measured predictions")

        self._active: int | None = None  # the active run when the list was last made

        layout = QVBoxLayout(self)
        _rows(layout, ((QLabel("Run"), self.run),
                       (self.predict_image, self.predict_listed, self.predict_all, self.cancel),
                       (self.progress,), (QLabel("Confidence"), self.slider, self.slider_label),
                       (QLabel("Show"), self.mode), (self.by_verdict,), (self.counts,)))
        # the predictions' table gets the room; the images by errors what is left
        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        for rows in (((self.table,), (self.accept, self.reject, self.accept_all)),
                     ((self.sort_button, self.metrics_button, self.rules_button),
                      (self.worst,))):
            part = QWidget()
            part_layout = QVBoxLayout(part)
            part_layout.setContentsMargins(0, 0, 0, 0)
            _rows(part_layout, rows)
            split.addWidget(part)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        self.worst.setMinimumHeight(self.fontMetrics().height() * 3)
        self.worst.hide()  # until listed: an empty box under the table reads as an empty table
        layout.addWidget(split, 1)

        self.predict_image.clicked.connect(lambda: self.start([self.session.document.image_id])
                                           if self.session.document else None)
        self.predict_all.clicked.connect(lambda: self.start([r.id for r in session.images()]))
        self.predict_listed.clicked.connect(lambda: self.start(self.listed_images()))
        self.cancel.clicked.connect(lambda: self.worker and self.worker.cancel())
        self.slider.valueChanged.connect(self._threshold)
        self.mode.currentIndexChanged.connect(
            lambda: controller.set_mode(self.mode.currentData()))
        self.by_verdict.toggled.connect(controller.set_by_verdict)
        self.run.currentIndexChanged.connect(lambda: controller.set_run(self.run.currentData()))
        self.table.itemSelectionChanged.connect(self._highlight)
        self.accept.clicked.connect(lambda: self.accept_predictions(self._selected_ids()))
        self.reject.clicked.connect(lambda: self._decide(RejectPredictionsCommand,
                                                         self._selected_ids()))
        self.accept_all.clicked.connect(self.accept_above_threshold)
        self.sort_button.clicked.connect(self.list_by_errors)
        self.worst.itemClicked.connect(
            lambda item: session.open_image(item.data(Qt.ItemDataRole.UserRole)))
        self.metrics_button.clicked.connect(self.show_metrics)
        self.rules_button.clicked.connect(self.show_rules)
        controller.changed.connect(self.refresh)
        self.refresh_runs()

    # ------------------------------------------------------------------ runs

    def refresh_runs(self) -> None:
        """The runs with a model; a change of the active run (by training or by choice) makes
        it the one reviewed, otherwise the run chosen here stays."""
        active = self.session.project.active_run_id
        current = self.run.currentData()
        if current is None or active != self._active:
            current = active
        self._active = active
        self.run.blockSignals(True)
        self.run.clear()
        for run in reversed(self.session.store.runs()):
            if run.checkpoint:
                active = " (active)" if run.id == self.session.project.active_run_id else ""
                self.run.addItem(f"run {run.id}: {run.name}{active}", run.id)
        index = self.run.findData(current)
        self.run.setCurrentIndex(max(0, index))
        self.run.blockSignals(False)
        self.controller.set_run(self.run.currentData())

    # ------------------------------------------------------------------ predicting

    def start(self, image_ids: list[int]) -> bool:
        run_id = self.run.currentData()
        if not image_ids:
            return False
        if run_id is None or self.worker is not None:
            if run_id is None:
                QMessageBox.information(self, "Review", "Train a model first (Training panel).")
            return False
        try:
            checkpoint = checkpoint_file(self.session.project, self.session.store.run(run_id))
        except RunNotFound as exc:
            QMessageBox.warning(self, "Review", str(exc))
            return False
        project = self.session.project
        images = [(i, project.image_path(self.session.store.image(i).path)) for i in image_ids]
        self.worker = PredictWorker(run_id, checkpoint, images, self.loaded_model)
        self.worker.predicted.connect(self._store)

        def show_progress(done: int, total: int) -> None:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        self.worker.progress.connect(show_progress)
        self.worker.failed.connect(lambda text: self.counts.setText(text))
        self.worker.finished.connect(self._worker_done)
        self.cancel.setEnabled(True)
        for widget in (self.predict_image, self.predict_listed, self.predict_all, self.run):
            widget.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.worker.start()
        return True

    def _store(self, run_id: int, image_id: int, found: list) -> None:
        if not self.session.store_predictions(run_id, image_id, found) and self.worker:
            self.worker.cancel()  # the project cannot take them: stop predicting

    def _worker_done(self) -> None:
        self.worker = None
        self.cancel.setEnabled(False)
        for widget in (self.predict_image, self.predict_listed, self.predict_all, self.run):
            widget.setEnabled(True)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self.progress.hide()
        self.session.classes_edited()

    # ------------------------------------------------------------------ what is shown

    def _threshold(self, value: int) -> None:
        self.slider_label.setText(f"{value / 100:.2f}")
        self.controller.set_threshold(value / 100)

    def refresh(self) -> None:
        layer = self.controller.layer
        predictions = self.controller.predictions()
        shown = [p for p in predictions if p.score >= layer.threshold]
        c = layer.comparison
        if not predictions:
            self.counts.setText("No predictions of this run for this image yet: Predict.")
        elif not layer.judged:
            self.counts.setText(
                f"{len(shown)} predictions at confidence ≥ {layer.threshold:.2f}. This image "
                "is not marked labeled, so nothing says which are right (labels of an image in "
                "progress may be missing): accept the right ones (they become labels you can "
                "edit), reject the others, and mark it labeled (Ctrl+Shift+L) once every object "
                "is drawn.")
        else:
            self.counts.setText(
                f"{len(shown)} predictions at confidence ≥ {layer.threshold:.2f}: "
                f"{layer.right} right, {len(c.false_positives)} wrong "
                f"({len(c.wrong_class)} of another class), "
                f"{len(layer.missed_labels)} labels missed")
        selected = set(self._selected_ids())
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.clearContents()
        self.table.setRowCount(len(shown))
        for row, p in enumerate(sorted(shown, key=lambda p: -p.score)):
            cls = self.session.class_by_id(p.class_id)
            for col, text in enumerate((cls.name if cls else "?", f"{p.score:.3f}",
                                        layer.verdict(p), f"{p.shape.area:.0f} px²")):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, p.id)
                self.table.setItem(row, col, item)
            if p.id in selected:  # the selection survives the slider
                self.table.selectionModel().select(
                    self.table.model().index(row, 0),
                    QItemSelectionModel.SelectionFlag.Select |
                    QItemSelectionModel.SelectionFlag.Rows)
        self.table.blockSignals(False)
        self._highlight(center=False)

    def _selected_ids(self) -> list[int]:
        rows = {i.row() for i in self.table.selectedIndexes()}
        ids = []
        for r in sorted(rows):
            item = self.table.item(r, 0)
            assert item is not None  # a selected row has its cells
            ids.append(item.data(Qt.ItemDataRole.UserRole))
        return ids

    def _highlight(self, center: bool = True) -> None:
        """The selected prediction stands out on the canvas (centred when out of view)."""
        ids = self._selected_ids()
        self.controller.highlight(ids[0] if ids else None, center=center)

    # ------------------------------------------------------------------ decisions

    def _decide(self, command, ids: list[int]) -> None:
        doc = self.session.document
        if doc is not None and ids:
            self.session.undo_stack.push(command(self.session, doc.image_id, ids))

    def accept_predictions(self, ids: list[int]) -> None:
        """Accept the predictions; those matching a label already there: ask."""
        doc = self.session.document
        if doc is None or not ids:
            return
        chosen = [p for p in self.controller.predictions() if p.id in set(ids)]
        matches = matched_labels(doc.instances(), chosen)
        answer = ask_about_matches(self, len(matches), len(chosen)) if matches else ADD
        if answer is None:
            return
        if answer == SKIP:
            ids = [i for i in ids if i not in matches]
        self._accept(doc, ids, matches if answer == REPLACE else {})
        if answer == SKIP:
            self.counts.setText(f"Accepted {len(ids)}; skipped {len(matches)} that match "
                                "objects already labeled.")

    def accept_above_threshold(self) -> None:
        """Every prediction shown; those matching a label already there are left (and said)."""
        doc = self.session.document
        if doc is None:
            return
        threshold = self.controller.layer.threshold
        shown = [p for p in self.controller.predictions() if p.score >= threshold]
        matches = matched_labels(doc.instances(), shown)
        ids = [p.id for p in shown if p.id not in matches]
        self._accept(doc, ids, {})
        if matches:
            self.counts.setText(
                f"Accepted {len(ids)}; skipped {len(matches)} that match objects already "
                "labeled (select them and Accept to replace a label's shape or add them).")

    def _accept(self, doc, ids: list[int], replace: dict[int, int]) -> None:
        if ids:
            self.session.undo_stack.push(AcceptPredictionsCommand(
                self.session, doc.image_id, ids, {p: replace[p] for p in ids if p in replace}))

    def list_by_errors(self) -> None:
        store = self.session.store
        rows = images_by_errors(store, self.run.currentData(), self.controller.layer.threshold)
        self.worst.clear()
        for row in rows:
            name = store.image(row.image_id).path.rsplit("/", 1)[-1]
            item = QListWidgetItem(f"{name}   {row.wrong} wrong, {row.missed} missed")
            item.setData(Qt.ItemDataRole.UserRole, row.image_id)
            self.worst.addItem(item)
        self.worst.setVisible(bool(rows))
        if not rows:
            self.counts.setText("No image has predictions of this run yet.")

    def show_metrics(self) -> None:
        from isegui.gui.dialogs.run_metrics import RunMetricsDialog
        run_id = self.run.currentData()
        if run_id is None:
            QMessageBox.information(self, "Review", "Train a model first (Training panel).")
            return
        split, warning = "val", ""
        if not self._labeled_in(Split.VAL):
            if not self._labeled_in(Split.TRAIN):
                QMessageBox.information(self, "Run metrics", "No image is marked labeled yet: "
                                        "there is nothing to measure the run against.")
                return
            split = "train"
            warning = ("No labeled images in the val split, so this is the train split, which "
                       "the run learned from: these figures flatter it. Right-click images in "
                       "the image list to move some to val. ")
        RunMetricsDialog(self.session, run_id, self, split=split, warning=warning,
                         threshold=self.controller.layer.threshold).show()

    def _labeled_in(self, split: Split) -> bool:
        return any(r.status in (ImageStatus.LABELED, ImageStatus.REVIEWED)
                   for r in self.session.store.images(split))


    def show_rules(self):
        from isegui.gui.dialogs.line_rules import LineRulesDialog
        run_id = self.run.currentData()
        if run_id is None:
            QMessageBox.information(self, "Review", "Train a model first (Training panel).")
            return None
        dialog = LineRulesDialog(self.session, run_id, self.controller.layer.threshold, self)
        dialog.show()
        return dialog


def _rows(layout, rows) -> None:
    for row in rows:
        line = QHBoxLayout()
        for w in row:
            line.addWidget(w)
        layout.addLayout(line)
