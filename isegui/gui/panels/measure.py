"""Counting and measuring: per class counts, and a table of every instance's area, box,
minimum-area-rectangle length and width and equivalent diameter, in pixels and, once
calibrated, in millimetres. The labels or the predictions above the confidence; CSV export."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout,
                               QInputDialog, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from isegui.core.errors import IseguiError
from isegui.core.labeling_log import effort_by_tool, read_entries
from isegui.core.fileio import atomic_write_text
from isegui.core.csv_cells import CsvDictWriter
from isegui.core.measure import MM_COLUMNS, csv_columns, measurement_row
from isegui.gui.commands.instance_commands import SetCalibrationCommand
from isegui.gui.tools.measure import INSTRUCTION

if TYPE_CHECKING:
    from isegui.gui.main_window import MainWindow

LABELS, PREDICTIONS = "labels", "predictions"
PX_SHOWN = ["area_px", "length_px", "width_px", "equivalent_diameter_px", "bbox_x", "bbox_y",
            "bbox_w", "bbox_h"]


class MeasurePanel(QWidget):
    def __init__(self, session, review, window: MainWindow):
        super().__init__()
        # the main window (not `self.window`, which would hide QWidget.window())
        self.session, self.review, self.main_window = session, review, window
        self.source = QComboBox()
        self.source.addItem("Labels", LABELS)
        self.source.addItem("Predictions above the confidence", PREDICTIONS)
        self.counts = QLabel()
        self.counts.setWordWrap(True)
        self.calibration = QLabel()
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.calibrate = QPushButton("Calibrate…")
        self.calibrate.setToolTip("Draw a line over something of known length on the image")
        self.hint = QLabel(INSTRUCTION)  # while calibrating
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("QLabel { background: #fff59d; color: #000; padding: 4px; }")
        self.hint.hide()
        self.export_image = QPushButton("Export CSV (this image)")
        self.export_all = QPushButton("Export CSV (all images)")
        self.count_all = QPushButton("Count all images")
        self.effort = QLabel()  # what labeling costs here, per tool (core.labeling_log)
        self.effort.setWordWrap(True)
        self.effort.setToolTip("Clicks and seconds per instance added with each tool on this "
                               "project, as labeled here (labeling_log.jsonl in the project "
                               "folder)")
        layout = QVBoxLayout(self)
        for row in ((QLabel("Measure"), self.source), (self.counts,),
                    (self.calibration, self.calibrate), (self.hint,), (self.table,),
                    (self.count_all, self.export_image, self.export_all), (self.effort,)):
            line = QHBoxLayout()
            for w in row:
                line.addWidget(w)
            layout.addLayout(line)
        self.source.currentIndexChanged.connect(self.refresh)
        self.calibrate.clicked.connect(self.start_calibration)
        self.export_image.clicked.connect(lambda: self.export(all_images=False))
        self.export_all.clicked.connect(lambda: self.export(all_images=True))
        self.count_all.clicked.connect(self.count_project)
        session.documentChanged.connect(self._follow)
        session.calibrationChanged.connect(self.refresh)
        session.classesChanged.connect(self.refresh)
        review.changed.connect(self.refresh)
        session.labelingLogged.connect(self.refresh_effort)
        self.document = None
        self._follow()

    def _follow(self) -> None:
        for doc, connect in ((self.document, False), (self.session.document, True)):
            if doc is None:
                continue
            for signal in (doc.instanceAdded, doc.instanceChanged, doc.instanceRemoved):
                (signal.connect if connect else signal.disconnect)(self.refresh)
        self.document = self.session.document
        self.refresh()

    # ------------------------------------------------------------------ rows

    def rows_of(self, image_id: int) -> list[dict]:
        """Measurement rows of one image, from the labels or the predictions shown."""
        store = self.session.store
        name = store.image(image_id).path
        mm = self.session.project.mm_per_px
        names = {c.id: c.name for c in self.session.classes()}
        if self.source.currentData() == PREDICTIONS:
            threshold = self.review.layer.threshold
            items = [(k, p.class_id, p.shape, p.score) for k, p in enumerate(
                store.predictions(image_id, self.review.run_id, min_score=threshold), start=1)]
        else:
            items = [(i.id, i.class_id, i.shape, None) for i in store.instances(image_id)
                     if not i.crowd]
        return [measurement_row(name, k, names.get(c), shape, score, mm)
                for k, c, shape, score in items]

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()
        self.refresh_effort()

    def refresh_effort(self) -> None:
        if not self.isVisible():
            return
        try:
            efforts = effort_by_tool(read_entries(self.session.project.folder))
        except (OSError, IseguiError) as exc:
            self.effort.setText(f"Labeling effort: the log cannot be read ({exc}).")
            return
        self.effort.setText(
            "Labeling effort here, per instance: " + "; ".join(
                f"{e.tool} {e.mean_clicks:.1f} clicks, {e.median_seconds:.0f} s "
                f"({e.instances})" for e in efforts) if efforts else
            "Labeling effort: nothing added with a tool yet.")

    def refresh(self, *_) -> None:
        if not self.isVisible():
            return  # measuring every object on each edit or slider move only when shown
        mm = self.session.project.mm_per_px
        self.calibration.setText(f"{mm:g} mm per pixel" if mm else "not calibrated (px only)")
        doc = self.session.document
        rows = self.rows_of(doc.image_id) if doc else []
        # millimetres first when calibrated; a score only for predictions
        columns = (["instance", "class"]
                   + (["score"] if self.source.currentData() == PREDICTIONS else [])
                   + (MM_COLUMNS if mm else []) + PX_SHOWN)
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels([c.replace("_", " ") for c in columns])
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, key in enumerate(columns):
                self.table.setItem(r, c, QTableWidgetItem(str(row.get(key, ""))))
        counts = Counter(row["class"] for row in rows)
        self.counts.setText(f"{len(rows)} objects here: " + ", ".join(
            f"{k or '(no class)'} {v}" for k, v in sorted(counts.items())) if rows
            else "No objects here.")

    def count_project(self) -> None:
        counts: Counter = Counter()
        images = self.session.images()
        for record in images:
            counts.update(row["class"] for row in self.rows_of(record.id))
        self.counts.setText(f"All {len(images)} images: {sum(counts.values())} objects: "
                            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))

    # ------------------------------------------------------------------ calibration, export

    def start_calibration(self) -> None:
        """The calibrate tool, and what to do with it, said at once (here and in the status
        bar) until it is done or Esc."""
        self.main_window.set_tool("calibrate")
        self.hint.show()
        self.main_window.statusBar().showMessage(INSTRUCTION)
        self.main_window.view.setFocus()  # for the Esc

    def calibration_ended(self, escaped: bool) -> None:
        """The calibrate tool was left (a line measured, another tool, or Esc)."""
        self.hint.hide()
        if escaped:
            self.main_window.set_tool("edit")
            self.main_window.statusBar().showMessage("Calibration cancelled", 4000)
        elif self.main_window.statusBar().currentMessage() == INSTRUCTION:
            self.main_window.statusBar().clearMessage()

    def calibrate_line(self, length_px: float) -> None:
        """After a line was drawn: ask its real length, then set mm per pixel (undoable)."""
        mm, ok = QInputDialog.getDouble(self, "Calibrate", f"The line is {length_px:.1f} px "
                                        "long. Its real length in millimetres:", 10.0, 0.001,
                                        1e6, 3)
        if ok and mm > 0:
            self.session.undo_stack.push(SetCalibrationCommand(self.session, mm / length_px))
        self.main_window.set_tool("edit")

    def export(self, all_images: bool, path: str | None = None) -> str | None:
        doc = self.session.document
        if not all_images and doc is None:
            return None
        if path is None:
            stem = "measurements" if all_images else PurePosixPath(doc.record.path).stem
            path, _ = QFileDialog.getSaveFileName(self, "Export measurements", f"{stem}.csv",
                                                  "CSV (*.csv)")
            if not path:
                return None
        ids = [r.id for r in self.session.images()] if all_images else [doc.image_id]
        columns = csv_columns(bool(self.session.project.mm_per_px))
        buffer = io.StringIO()
        writer = CsvDictWriter(buffer, columns)  # no cell runs as a spreadsheet formula
        writer.writeheader()
        for image_id in ids:
            writer.writerows(self.rows_of(image_id))
        atomic_write_text(path, buffer.getvalue())
        self.main_window.statusBar().showMessage(f"Measurements written to {path}", 6000)
        return path
