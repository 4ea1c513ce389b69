"""The training panel: settings, start / cancel / resume, progress with ETA, live curves of
each loss and of validation mAP, and the project's runs (pick the active model)."""

from __future__ import annotations

from datetime import datetime

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QLabel, QMessageBox, QProgressBar,
                               QPushButton, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from isegui.core.entities import RunStatus
from isegui.gui.panels.training_settings import TrainingSettings
from isegui.gui.workers.train_process import TrainProcess

LOSS_COLORS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0")
RUN_COLUMNS = ("Run", "Name", "Status", "Model", "Size", "Epochs", "Time", "Mask mAP",
               "Box mAP", "Active")


class TrainingPanel(QWidget):
    runsChanged = Signal()

    def __init__(self, session):
        super().__init__()
        self.session = session
        self.process = TrainProcess(self)
        self.settings = TrainingSettings(session)
        self.start_button = QPushButton("Start training")
        self.cancel_button = QPushButton("Cancel")
        self.resume_button = QPushButton("Resume selected run")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop at the next batch; the run keeps its checkpoint")
        self.resume_button.setToolTip("Continue a cancelled (or finished) run where it stopped")
        buttons = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.resume_button):
            buttons.addWidget(b)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        self.status = QLabel("No training running.")
        self.status.setWordWrap(True)

        self.loss_plot = pg.PlotWidget(title="Training losses")
        self.loss_plot.addLegend(offset=(-5, 5))
        self.loss_plot.setLabel("bottom", "step")
        self.map_plot = pg.PlotWidget(title="Validation mAP")
        self.map_plot.addLegend(offset=(-5, 5))
        self.map_plot.setLabel("bottom", "epoch")
        self.map_plot.setYRange(0, 1)
        plots = QSplitter(Qt.Orientation.Horizontal)
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.map_plot)

        self.runs = QTableWidget(0, len(RUN_COLUMNS))
        self.runs.setHorizontalHeaderLabels(RUN_COLUMNS)
        self.runs.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.runs.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.runs.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.runs.verticalHeader().setVisible(False)
        self.set_active_button = QPushButton("Use the selected run's model")
        self.set_active_button.setToolTip("The active run's model predicts in Review")

        layout = QVBoxLayout(self)
        layout.addWidget(self.settings)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(plots, 2)
        layout.addWidget(self.runs, 1)
        layout.addWidget(self.set_active_button)

        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.process.cancel)
        self.resume_button.clicked.connect(self.resume)
        self.set_active_button.clicked.connect(self.set_active)
        self.process.event.connect(self._event)
        self.process.finished.connect(self._finished)
        self.device = ""  # where the running training computes, from its start event
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._series: dict[str, tuple[list, list]] = {}
        self.last_error = ""
        self.refresh_runs()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.settings.load_devices()

    # ------------------------------------------------------------------ start / stop

    def start(self) -> bool:
        try:
            arguments = self.settings.arguments()
        except ValueError as exc:
            QMessageBox.warning(self, "Training", str(exc))
            return False
        return self._launch(arguments)

    def resume(self) -> bool:
        run_id = self._selected_run()
        if run_id is None:
            QMessageBox.information(self, "Training", "Select the run to resume in the list.")
            return False
        device = self.settings.device.currentData() or "auto"
        return self._launch(["--resume", str(run_id), "--device", device])

    def _launch(self, arguments: list[str]) -> bool:
        if self.process.running:
            return False
        self._clear_plots()
        self.last_error = ""
        self.process.start(self.session.project.folder, arguments)
        self._running(True)
        self.status.setText("Starting…")
        self.progress.setFormat("starting")
        return True

    def _running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.resume_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.settings.setEnabled(not running)

    # ------------------------------------------------------------------ events

    def _event(self, kind: str, f: dict) -> None:
        if kind == "start":
            self.device = f.get("device", "")
            self.status.setText(
                f"Run {f['run_id']}: {f['model']} at {f['size']} px on {f['device']}; "
                f"{f['train_images']} training images; validation on {f['validation']}; "
                f"weights: {f['init']['source']}")
            self.refresh_runs()
        elif kind == "step":
            self.progress.setValue(int(1000 * f.get("progress", 0)))
            eta = _duration(f.get("eta_s", 0))
            self.progress.setFormat(f"epoch {f['epoch']}  batch {f['batch']}/{f['batches']}  "
                                    f"ETA {eta}")
            losses = f.get("losses") or {}
            for key, value in losses.items():
                self._add_point(self.loss_plot, key, f["step"], value)
            lr = f.get("lr")
            self.status.setText(f"Step {f['step']} on {self.device}: loss "
                                f"{losses.get('loss', float('nan')):.3f}, learning rate "
                                f"{lr:.2e}, {f.get('images_per_s', 0):.2f} images/s"
                                if lr is not None else self.status.text())
        elif kind == "epoch":
            for key, name in (("mask_map", "mask mAP"), ("box_map", "box mAP")):
                if key in f:
                    self._add_point(self.map_plot, name, f["epoch"], f[key])
            self.refresh_runs()
        elif kind == "note":
            self.status.setText(f["message"])

    def _finished(self, code: int, failure: str) -> None:
        self._running(False)
        self.refresh_runs()
        self.settings.refresh_runs()
        self.runsChanged.emit()
        if failure:
            self.last_error = failure
            self.progress.setFormat("failed")
            self.status.setText(failure.splitlines()[0])
            QMessageBox.warning(self, "Training stopped", failure)
        else:
            self.progress.setFormat("cancelled — resume continues it" if code == 3 else "done")
            if code != 3:
                self.progress.setValue(1000)

    def _add_point(self, plot, name: str, x, y) -> None:
        xs, ys = self._series.setdefault(name, ([], []))
        xs.append(x)
        ys.append(y)
        curve = self._curves.get(name)
        if curve is None:
            color = LOSS_COLORS[len(self._curves) % len(LOSS_COLORS)]
            curve = plot.plot(name=name, pen=pg.mkPen(color, width=2))
            self._curves[name] = curve
        curve.setData(xs, ys)

    def _clear_plots(self) -> None:
        for plot in (self.loss_plot, self.map_plot):
            plot.clear()
        self._curves.clear()
        self._series.clear()

    # ------------------------------------------------------------------ runs

    def refresh_runs(self) -> None:
        runs = self.session.store.runs()
        active = self.session.project.active_run_id
        self.runs.setRowCount(len(runs))
        for row, run in enumerate(reversed(runs)):
            best = run.metrics.get("best", {}) if isinstance(run.metrics, dict) else {}
            cells = [str(run.id), run.name, run.status.value, run.config.get("model", ""),
                     str(run.config.get("size", "")), str(best.get("epoch", "")),
                     _run_time(run), _fmt(best.get("mask_map")), _fmt(best.get("box_map")),
                     "✓" if run.id == active else ""]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, run.id)
                if col == 0:
                    item.setToolTip(_describe(run))
                self.runs.setItem(row, col, item)

    def _selected_run(self) -> int | None:
        rows = self.runs.selectionModel().selectedRows()
        return self.runs.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole) if rows else None

    def set_active(self) -> None:
        run_id = self._selected_run()
        if run_id is None:
            return
        run = self.session.store.run(run_id)
        if not run.checkpoint:
            QMessageBox.information(self, "Runs", f"Run {run_id} has no checkpoint yet.")
            return
        self.session.project.set_active_run(run_id)
        self.refresh_runs()
        self.runsChanged.emit()


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else ""


def _duration(seconds: float) -> str:
    seconds = int(seconds or 0)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _run_time(run) -> str:
    if run.finished:
        try:
            span = datetime.fromisoformat(run.finished) - datetime.fromisoformat(run.created)
            return _duration(span.total_seconds())
        except ValueError:
            return ""
    return "running" if run.status == RunStatus.RUNNING else ""


def _describe(run) -> str:
    c = run.config
    return (f"{run.name}\nmodel {c.get('model')} at {c.get('size')} px, batch {c.get('batch')}, "
            f"lr {c.get('lr') or 'default'}, augment {c.get('augment')}\n"
            f"validation: {c.get('validation')}\nweights: {(c.get('init') or {}).get('source')}")
