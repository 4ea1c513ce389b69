"""File > Export model for the line: a run's model as one ONNX file the line runtime
(`isegui watch`, the station) takes, carrying the rules and the calibration, without a command
line (the packaged window has no console). The export runs in a thread
(gui.workers.export_worker); the dialog then says what went into the file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton,
                               QSpinBox, QVBoxLayout)

from isegui.core.entities import RunStatus
from isegui.core.line_rules import Rules, RulesError, load_rules
from isegui.core.working_scale import WorkingScale
from isegui.gui.dialogs.line_rules import DEFAULT_FILE as RULES_FILE
from isegui.gui.workers.export_worker import ExportWorker
from isegui.ml.runs import RunNotFound, checkpoint_file

EXPORTS_DIR = "exports"
NO_RULES = "(none: every frame OK unless the station is given rules)"


class ExportModelDialog(QDialog):
    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.project = session.project
        self.worker: ExportWorker | None = None
        self.written: dict | None = None
        self.setWindowTitle("Export model for the line")
        self.resize(640, 360)

        self.run = QComboBox()
        runs = [r for r in session.store.runs() if r.status == RunStatus.FINISHED]
        for run in reversed(runs):  # newest first
            self.run.addItem(f"{run.id}  {run.name}", run.id)
        active = self.run.findData(self.project.active_run_id)
        self.run.setCurrentIndex(max(0, active))
        self.input_size = QSpinBox()
        self.input_size.setRange(64, 4096)
        self.input_size.setSingleStep(32)
        self.input_size.setSuffix(" px")
        self.size_note = QLabel()
        self.size_note.setWordWrap(True)
        self.rules = QComboBox()
        self.rules.addItem(NO_RULES, None)
        saved = self.project.folder / RULES_FILE
        if saved.is_file():
            self.rules.addItem(str(saved), str(saved))
            self.rules.setCurrentIndex(1)
        self.rules.addItem("Choose a rules file…", "choose")
        mm = self.project.mm_per_px
        self.calibration = QCheckBox(f"{mm:g} mm per pixel (the project's)" if mm else
                                     "not calibrated: sizes on the line in pixels")
        self.calibration.setChecked(bool(mm))
        self.calibration.setEnabled(bool(mm))
        self.out = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.export)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # no steps to count: torch's export says nothing until done
        self.busy.hide()
        self.said = QLabel()
        self.said.setWordWrap(True)
        self.said.setObjectName("export-result")

        form = QFormLayout()
        form.addRow("Run", self.run)
        form.addRow("Input size", self.input_size)
        form.addRow("", self.size_note)
        form.addRow("Line rules", self.rules)
        form.addRow("Calibration", self.calibration)
        where = QHBoxLayout()
        where.addWidget(self.out, 1)
        where.addWidget(browse)
        form.addRow("File", where)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.busy)
        layout.addWidget(self.said, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(close)
        layout.addLayout(buttons)

        self.run.currentIndexChanged.connect(lambda _: self._run_chosen())
        self.rules.activated.connect(lambda _: self._rules_chosen())
        self.input_size.valueChanged.connect(lambda _: self._size_said())
        self._run_chosen()
        if not runs:
            self.said.setText("No finished training run yet: train one (Training panel), "
                                "then export it here.")
            self.export_button.setEnabled(False)

    # ------------------------------------------------------------------ choices

    def _chosen_run(self):
        run_id = self.run.currentData()
        return next((r for r in self.session.store.runs() if r.id == run_id), None)

    def _working(self) -> WorkingScale | None:
        run = self._chosen_run()
        if run is None:
            return None
        return WorkingScale.from_dict(run.config.get("working_scale"),
                                      int(run.config.get("size") or 512))

    def _run_chosen(self) -> None:
        run, working = self._chosen_run(), self._working()
        if run is None or working is None:
            return
        self.input_size.setValue(working.size)
        self.input_size.setEnabled(not working.tiled)  # a tiled run predicts on its own tiles
        self.out.setText(str(self.project.folder / EXPORTS_DIR / f"{_safe(run.name)}.onnx"))
        self._size_said()

    def _size_said(self) -> None:
        working = self._working()
        if working is None:
            return
        if working.tiled:
            self.size_note.setText(f"The run works on tiles of {working.size} px of the frame "
                                   f"at scale {working.scale:g}: the line does the same on "
                                   "frames of any size.")
        elif self.input_size.value() < working.size:
            self.size_note.setText(f"Smaller than the {working.size} px the run was trained "
                                   "at: the line finds fewer small objects (faster, though).")
        else:
            self.size_note.setText(f"Whole images scaled to {self.input_size.value()} px, as the "
                                   f"run was trained at {working.size} px.")

    def _rules_chosen(self) -> None:
        if self.rules.currentData() != "choose":
            return
        name, _ = QFileDialog.getOpenFileName(self, "Line rules", str(self.project.folder),
                                              "Rules (*.json);;All files (*)")
        if not name:
            self.rules.setCurrentIndex(0)
            return
        self.rules.insertItem(self.rules.count() - 1, name, name)
        self.rules.setCurrentIndex(self.rules.count() - 2)

    def _browse(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export model", self.out.text(),
                                              "ONNX model (*.onnx)")
        if name:
            self.out.setText(name if name.lower().endswith(".onnx") else name + ".onnx")

    # ------------------------------------------------------------------ the export

    def export(self) -> bool:
        """Start writing the file (False, and why shown, when a choice is wrong)."""
        run = self._chosen_run()
        out = Path(self.out.text().strip()).expanduser()
        if run is None or self.worker is not None:
            return False
        if out.suffix.lower() != ".onnx" or out.is_dir():
            self.said.setText(f"{out}: give a file name ending in .onnx.")
            return False
        rules: Rules | None = None
        mm = self.project.mm_per_px if self.calibration.isChecked() else None
        try:
            checkpoint = checkpoint_file(self.project, run, "best")
            if self.rules.currentData():
                rules = load_rules(Path(self.rules.currentData()))
                rules.check_calibration(mm)
        except (RunNotFound, RulesError) as exc:
            self.said.setText(str(exc))
            return False
        working = self._working()
        size = None if working is None or working.tiled else self.input_size.value()
        self.worker = ExportWorker(checkpoint, out, size, mm,
                                   rules.as_dict() if rules is not None else None)
        self.worker.written.connect(lambda written: self._done(run, rules, written))
        self.worker.failed.connect(self._failed)
        self.worker.finished.connect(self._ended)
        self.export_button.setEnabled(False)
        self.busy.show()
        self.said.setText(f"Writing {out.name}…")
        self.worker.start()
        return True

    def _done(self, run, rules: Rules | None, written: dict) -> None:
        self.written = written
        mm = written.get("mm_per_px")
        lines = [f"Wrote {written['path']}",
                 f"• run {run.id} ({run.name}), {written['model_name']}, input "
                 f"{written['width']} x {written['height']} px",
                 f"• classes: {', '.join(written['classes'])}",
                 "• rules: " + (_rules_said(rules) if rules is not None else
                                "none (the station then calls every frame OK)"),
                 "• calibration: " + (f"{mm:g} mm per pixel" if mm else "none (sizes in px)"),
                 "On the line PC: isegui watch FOLDER --model " + Path(written["path"]).name]
        self.said.setText("\n".join(lines))

    def _failed(self, why: str) -> None:
        self.said.setText(why)

    def _ended(self) -> None:
        self.worker = None
        self.busy.hide()
        self.export_button.setEnabled(True)

    def closeEvent(self, event) -> None:
        """Closed while writing: the dialog goes away, the export goes on (the window waits
        for it only when it closes itself: gui.main_window)."""
        super().closeEvent(event)

    def finish_export(self) -> None:
        """Wait for an export under way (the window is closing): the file is written whole
        or not at all, never left half-written by a thread cut off."""
        if self.worker is not None:
            self.worker.wait()


def _rules_said(rules: Rules) -> str:
    parts = [Path(rules.source).name]
    if rules.defects:
        parts.append("defects (any one is NG): " + ", ".join(rules.defects))
    if rules.classes:
        parts.append("limits for " + ", ".join(rules.classes))
    return "; ".join(parts)


def _safe(name: str) -> str:
    """A run's name as a file name on any system."""
    kept = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip(".-")
    return kept[:100] or "model"
