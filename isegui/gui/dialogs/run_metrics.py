"""A run's metrics on the val split: per-class AP, the confusion matrix and the PR curve,
computed by `isegui evaluate` in a process of its own (the window stays responsive). The
counts and the confusion matrix are at the confidence the Review slider is set to."""

from __future__ import annotations

import json

import pyqtgraph as pg
from PySide6.QtWidgets import (QDialog, QLabel, QTableWidget, QTableWidgetItem, QTabWidget,
                               QVBoxLayout)

from isegui.gui.panels.training_curves import SERIES_COLORS
from isegui.gui.workers.command_process import command_process


class RunMetricsDialog(QDialog):
    result: dict | None  # type: ignore[assignment]  # hides QDialog.result(); tests read it

    def __init__(self, session, run_id: int, parent=None, split: str = "val",
                 threshold: float = 0.5, warning: str = ""):
        super().__init__(parent)
        self.warning = warning  # said before the figures (a split that flatters the run)
        self.threshold = round(float(threshold), 2)
        self.setWindowTitle(f"Run {run_id} on the {split} split, at confidence ≥ "
                            f"{self.threshold:.2f}")
        self.resize(760, 560)
        self.summary = QLabel(f"{warning}Evaluating run {run_id} on the {split} split (counts "
                              f"and confusions at the Review confidence, "
                              f"{self.threshold:.2f})…")
        self.summary.setWordWrap(True)
        self.tabs = QTabWidget()
        self.per_class = QTableWidget()
        self.confusion = QTableWidget()
        self.pr = pg.PlotWidget(title="Precision-recall at mask IoU 0.5")
        self.pr.setLabel("bottom", "recall")
        self.pr.setLabel("left", "precision")
        self.pr.addLegend()
        self.tabs.addTab(self.per_class, "Per-class AP")
        self.tabs.addTab(self.confusion, "Confusion matrix")
        self.tabs.addTab(self.pr, "PR curve")
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs)
        self.result = None
        self.process, program, prefix = command_process(self)
        self.process.finished.connect(self._done)
        self.process.start(program, prefix + ["evaluate", str(session.project.folder), "--run",
                                              str(run_id), "--split", split, "--threshold",
                                              f"{self.threshold:g}", "--json"])

    def _done(self, code: int, _status) -> None:
        out = bytes(self.process.readAllStandardOutput().data()).decode("utf-8", "replace")
        if code != 0 or "{" not in out:
            error = bytes(self.process.readAllStandardError().data()).decode("utf-8",
                                                                             "replace")
            last = (error.strip().splitlines() or [f"it ended with code {code}"])[-1]
            self.summary.setText(f"{self.warning}The evaluation failed: "
                                 f"{last.removeprefix('error: ')}")
            self.tabs.hide()  # no empty tabs under the message
            return
        self.show_result(json.loads(out[out.index("{"):]))

    def show_result(self, r: dict) -> None:
        self.result = r
        self.summary.setText(
            f"{self.warning}{r['images']} images, {r['instances']} labeled instances: mask mAP "
            f"{r['mask_map']:.3f} (mAP50 {r['mask_map50']:.3f}), box mAP {r['box_map']:.3f} "
            f"(mAP50 {r['box_map50']:.3f}); at the Review confidence ≥ {self.threshold:.2f}: "
            f"{r['true_positives']} right, {r['false_positives']} wrong, "
            f"{r['false_negatives']} missed (the confusion matrix too; mAP and the PR curve "
            "use every score)")
        classes = list(r["mask_ap_per_class"])
        # how closely the found ones fit their labels (results from before it: none)
        fits = r.get("matched_iou_per_class") or {}
        self.per_class.setColumnCount(4)
        self.per_class.setHorizontalHeaderLabels(["Class", "Mask AP", "Box AP", "Matched IoU"])
        self.per_class.setRowCount(len(classes))
        for row, name in enumerate(classes):
            fit = fits.get(name)
            for col, text in enumerate((name, f"{r['mask_ap_per_class'][name]:.3f}",
                                        f"{r['box_ap_per_class'].get(name, 0):.3f}",
                                        "-" if fit is None else f"{fit:.2f}")):
                self.per_class.setItem(row, col, QTableWidgetItem(text))
        labels, matrix = r["confusion"]["labels"], r["confusion"]["matrix"]
        self.confusion.setRowCount(len(labels))
        self.confusion.setColumnCount(len(labels))
        self.confusion.setVerticalHeaderLabels([f"labeled {n}" for n in labels])
        self.confusion.setHorizontalHeaderLabels([f"found {n}" for n in labels])
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                self.confusion.setItem(i, j, QTableWidgetItem(str(value)))
        curve = r.get("mask_pr_curve", {})
        for k, (name, precision) in enumerate(curve.get("precision", {}).items()):
            self.pr.plot(curve["recall"], precision, name=name,
                         pen=pg.mkPen(SERIES_COLORS[k % len(SERIES_COLORS)], width=2))
