"""The training panel: start / cancel / resume with what the process is doing at every moment
(seconds ticking while it starts or stops), progress with ETA; a Settings tab and a Runs tab
(the curves of the running or selected run above the project's runs; pick the active model)."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QMessageBox, QProgressBar, QPushButton,
                               QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from isegui.core.working_scale import WorkingScale
from isegui.gui.panels.click_model_box import ClickModelBox
from isegui.gui.panels.training_curves import CurvesWidget
from isegui.gui.panels.training_runs import RunsTable, duration
from isegui.gui.panels.training_settings import TrainingSettings
from isegui.gui.workers.train_process import TrainProcess
from isegui.ml.run_protocol import EXIT_OK, Done, Epoch, Note, Start, Step, event_fields
from isegui.ml.run_log import history_events, read_run_log
from isegui.ml.runs import run_folder

STOPPING = "Stopping at the end of this batch; the checkpoint is kept…"


class TrainingPanel(QWidget):
    runsChanged = Signal()  # a run was added or finished, or the active run changed

    def __init__(self, session):
        super().__init__()
        self.session = session
        self.process = TrainProcess(self)
        self.settings = TrainingSettings(session)
        self.start_button = QPushButton("Start training")
        self.cancel_button = QPushButton("Cancel")
        self.resume_button = QPushButton("Resume selected run")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop at the end of this batch; the run keeps its "
                                      "checkpoint and Resume continues it")
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
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.click_model = ClickModelBox(session)

        self.curves = CurvesWidget()
        self.runs = RunsTable()
        self.set_active_button = QPushButton("Use the selected run's model")
        self.set_active_button.setToolTip("The active run's model predicts in Review")
        runs_box = QWidget()
        runs_layout = QVBoxLayout(runs_box)
        runs_layout.setContentsMargins(0, 0, 0, 0)
        runs_layout.addWidget(self.runs)
        runs_layout.addWidget(self.set_active_button)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.curves)
        split.addWidget(runs_box)
        split.setChildrenCollapsible(False)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        settings_page = QScrollArea()
        settings_page.setWidget(self.settings)
        settings_page.setWidgetResizable(True)
        settings_page.setFrameShape(QScrollArea.Shape.NoFrame)
        # the form wraps to the dock's width (its advice is long text): never sideways
        settings_page.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tabs = QTabWidget()
        self.tabs.addTab(settings_page, "Settings")
        self.tabs.addTab(split, "Curves and runs")

        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.click_model)
        layout.addWidget(self.tabs, 1)

        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(self.resume)
        self.set_active_button.clicked.connect(self.set_active)
        self.runs.itemSelectionChanged.connect(self._show_selected_run)
        self.process.event.connect(self._event)
        self.process.finished.connect(self._finished)
        self.device = ""  # where the running training computes, from its start event
        self.run_id: int | None = None  # the run being trained
        self.last_error = ""
        self._headline = ""  # what the run is (from its start event)
        self._phase = ""  # what the process is doing while there is no step to show
        self._since = 0.0  # when the phase began (launch, or the cancel)
        self._note = ""  # the training's last note, under the step
        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._show_phase)
        self.refresh_runs()  # opens on Settings, where the advice is; a start shows the curves

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
        return self._launch(arguments, None)

    def resume(self) -> bool:
        run_id = self.runs.selected_run()
        if run_id is None:
            QMessageBox.information(self, "Training", "Select the run to resume in the list.")
            return False
        device = self.settings.device.currentData() or "auto"
        return self._launch(["--resume", str(run_id), "--device", device], run_id)

    def _launch(self, arguments: list[str], resuming: int | None) -> bool:
        if self.process.running:
            return False
        self.last_error = self._note = ""
        self.run_id = resuming
        if resuming is None:
            self.curves.clear()
        else:
            self.show_run_curves(resuming)  # the run so far; its new points follow
        self.process.start(self.session.project.folder, arguments)
        self._running(True)
        self.tabs.setCurrentIndex(1)
        self._headline = (f"Resuming run {resuming}." if resuming is not None
                          else "Starting the training process.")
        self.progress.setValue(0)
        self.progress.setFormat("starting")
        self._wait("loading PyTorch…")
        return True

    def cancel(self) -> None:
        if not self.process.running or self.process.cancelling:
            return
        before_start = not self.process.started
        self.process.cancel()
        if before_start:  # nothing of the run exists yet: the process simply ends
            self._headline = "Cancelled before the run began; nothing was kept."
            self._wait("ending the training process…")
        else:
            self.progress.setFormat("stopping")
            self._wait(STOPPING)

    def _running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.resume_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.settings.setEnabled(not running)

    def _wait(self, phase: str) -> None:
        """Show `phase` with the seconds since it began, ticking, until a step arrives."""
        self._phase, self._since = phase, time.monotonic()
        self._ticker.start()
        self._show_phase()

    def _show_phase(self) -> None:
        seconds = int(time.monotonic() - self._since)
        self._say(self._headline, f"{self._phase} {seconds} s")

    def _say(self, *lines: str) -> None:
        self.status.setText("\n".join(line for line in lines if line))

    # ------------------------------------------------------------------ events

    def _event(self, event) -> None:
        if isinstance(event, Note) and event.phase:
            if self.process.cancelling:
                pass  # the stopping message stays
            elif self._ticker.isActive():  # starting: the seconds count from the launch
                self._phase = event.message
                self._show_phase()
            else:  # between steps (validating): the seconds of this phase
                self._wait(event.message)
        elif isinstance(event, Note):  # something worth knowing (the learning rate lowered)
            self._note = f"Note: {event.message}"
        elif isinstance(event, Start):
            self._started(event)
        elif isinstance(event, Step):
            self._step(event)
        elif isinstance(event, Epoch):
            if not event.cancelled:
                self.curves.add_epoch(event_fields(event))
            self.refresh_runs()
        elif isinstance(event, Done):
            self._done(event)

    def _started(self, e: Start) -> None:
        self.device = e.device
        self.run_id = e.run_id
        working = WorkingScale.from_dict(e.working_scale, e.size)
        what = (f"{e.model}, {working.describe()}, on {e.device}; {e.train_images} "
                f"training images; validation on {e.validation}; weights: "
                f"{e.init.get('source') or 'unknown'}")
        if e.resumed_at_epoch is not None:
            self._headline = (f"Resumed run {e.run_id} at epoch {e.resumed_at_epoch} "
                              f"(step {e.resumed_at_step if e.resumed_at_step is not None else '?'}"
                              f"): {what}")
        else:
            self._headline = f"Run {e.run_id}: {what}"
        self.refresh_runs()
        self.runs.select_run(self.run_id)
        if not self.process.cancelling:
            self._show_phase()

    def _step(self, e: Step) -> None:
        self.progress.setValue(int(1000 * e.progress))
        self.curves.add_step(event_fields(e))
        if self.process.cancelling:
            return  # the stopping message stays, ticking
        self._ticker.stop()
        self.progress.setFormat(f"epoch {e.epoch}  batch {e.batch}/{e.batches}  "
                                f"ETA {duration(e.eta_s)}")
        if e.lr is not None:
            self._say(self._headline,
                      f"Step {e.step} on {self.device}: loss "
                      f"{(e.losses or {}).get('loss', float('nan')):.3f}, learning rate "
                      f"{e.lr:.2e}, {e.images_per_s:.2f} images/s", self._note)

    def _done(self, e: Done) -> None:
        """The outcome, as soon as the process says it (it then takes a moment to exit)."""
        self._ticker.stop()
        best = e.best or {}
        score = (f"; best validation mask mAP {best['mask_map']:.3f}"
                 if isinstance(best.get("mask_map"), (int, float)) else "")
        if e.status == "cancelled":
            text = (f"Run {e.run_id} stopped at step {e.steps}; the checkpoint is "
                    "kept: Resume continues it.")
            self.progress.setFormat("cancelled — resume continues it")
        else:
            text = (f"Run {e.run_id} finished after {counted(e.epochs, 'epoch')} "
                    f"({counted(e.steps, 'step')}){score}.\n{found_line(best)}")
            self.progress.setFormat("done")
            self.progress.setValue(1000)
        if e.active:
            text += f"\nRun {e.run_id} is now the active model ({e.active_reason})."
        elif e.active_reason:
            text += (f"\n{e.active_reason[0].upper()}{e.active_reason[1:]}; "
                     "“Use the selected run's model” makes this one active.")
        self.status.setText(text)

    def _finished(self, code: int, failure: str) -> None:
        self._ticker.stop()
        self._running(False)
        self.refresh_runs()
        self.settings.refresh_runs()
        self.runsChanged.emit()
        if failure:
            self.last_error = failure
            self.progress.setFormat("failed")
            self.status.setText(failure.splitlines()[0])
            QMessageBox.warning(self, "Training stopped", failure)
        elif not self.process.saw_done:  # ended before the run began (a cancel)
            self.progress.setFormat("idle")
            self.status.setText(self._headline)
        elif code == EXIT_OK:  # the labels it learned from teach the click model too
            self.click_model.start()

    # ------------------------------------------------------------------ runs

    def refresh_runs(self) -> None:
        self.session.settle_abandoned_runs()
        self.runs.blockSignals(True)
        self.runs.show_runs(self.session.store.runs(), self.session.project.active_run_id)
        self.runs.blockSignals(False)

    def show_run_curves(self, run_id: int) -> None:
        """A run's curves from its events file (or, for older runs, its epoch history)."""
        events = read_run_log(run_folder(self.session.project.folder, run_id))
        if not events:
            run = self.session.store.run(run_id)
            history = run.metrics.get("history", []) if isinstance(run.metrics, dict) else []
            events = history_events(history)
        self.curves.load(events)

    def _show_selected_run(self) -> None:
        run_id = self.runs.selected_run()
        if run_id is not None and not self.process.running:
            self.show_run_curves(run_id)

    def set_active(self) -> None:
        run_id = self.runs.selected_run()
        if run_id is None:
            return
        run = self.session.store.run(run_id)
        if not run.checkpoint:
            QMessageBox.information(self, "Runs", f"Run {run_id} has no checkpoint yet.")
            return
        if not self.session.set_active_run(run_id):
            return
        self.refresh_runs()
        self.status.setText(f"Run {run_id} is now the active model: Review predicts with it.")
        self.runsChanged.emit()


def counted(n: int, word: str) -> str:
    """"1 epoch", "2 epochs"."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def found_line(best: dict) -> str:
    """What the run's best checkpoint found on the validation images, in words; or, with none,
    how to measure it."""
    found, labeled = best.get("true_positives"), best.get("instances")
    if isinstance(found, int) and isinstance(labeled, int):
        objects = counted(labeled, "labeled object")
        return (f"On the validation images it found {found} of the {objects}, with their "
                "class (score and mask overlap 0.5 and up).")
    if "mask_map" not in best:
        return ("No validation images, so nothing was measured: move some images to val "
                "(right-click them in the image list) and train again; Run metrics can "
                "measure it on the training images meanwhile.")
    return ""
