"""The click model in the Training panel: train it on demand (and after every finished run),
in a process of its own (`isegui train-clicks --progress jsonl`, as training runs), with what it
is doing on one line; the click tool reads the new model by itself once it is saved."""

from __future__ import annotations

import json

from PySide6.QtCore import QProcess, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from isegui.gui.workers.command_process import command_process
from isegui.ml.click.words import holdout_in_words
from isegui.ml.run_protocol import EXIT_CANCELLED, EXIT_OK

MINUTES = 3.0  # a click model's training: a few CPU minutes
RETRAIN_AFTER = 50  # instances added with a tool since it last learned: it learns again


class ClickModelBox(QWidget):
    trained = Signal()  # a new click model was saved

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.process: QProcess | None = None
        self.button = QPushButton("Train click model")
        self.button.setToolTip(f"Learn, in about {MINUTES:.0f} minutes, how this project's "
                               "objects are outlined from a click or two (the click tool, I, "
                               "uses it); it also learns after every finished run and every "
                               f"{RETRAIN_AFTER} instances added with a tool")
        self.status = QLabel(self._idle_text())
        self.status.setWordWrap(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.button)
        layout.addWidget(self.status, 1)
        self.button.clicked.connect(self.toggle)
        self._buffer = b""
        self._stderr = b""
        self._done: dict | None = None
        self.added_since = 0  # instances added with a tool since the last training began
        session.labelingLogged.connect(self._instance_added)

    @property
    def running(self) -> bool:
        return self.process is not None and \
            self.process.state() != QProcess.ProcessState.NotRunning

    def _idle_text(self) -> str:
        from isegui.core.project import CLICK_MODEL_FILE
        exists = (self.session.project.folder / CLICK_MODEL_FILE).is_file()
        return "Click model: trained." if exists else \
            "Click model: none yet (the click tool uses GrabCut and the run's model)."

    def _instance_added(self) -> None:
        self.added_since += 1
        if self.added_since >= RETRAIN_AFTER and not self.running:
            self.start()

    def toggle(self) -> None:
        if self.running:
            self.stop()
        else:
            self.start()

    def start(self, max_steps: int | None = None) -> bool:
        """Train the click model now (`max_steps`: for tests); False when it is already
        training."""
        if self.running:
            return False
        self.process, program, prefix = command_process(self)
        self.process.setProgram(program)
        self.process.setArguments(
            prefix + ["train-clicks", str(self.session.project.folder), "--minutes",
                      str(MINUTES), "--progress", "jsonl"]
            + (["--max-steps", str(max_steps)] if max_steps is not None else []))
        self._buffer, self._stderr, self._done = b"", b"", None
        self.added_since = 0
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.readyReadStandardError.connect(self._read_errors)
        self.process.finished.connect(self._finished)
        self.process.start()
        self.button.setText("Stop click model")
        self.status.setText("Click model: starting…")
        return True

    def stop(self) -> None:
        """Stop without saving: the model the project had stays."""
        if self.running:
            assert self.process is not None
            self.process.write(b"cancel\n")
            self.process.closeWriteChannel()
            self.status.setText("Click model: stopping…")

    def _read(self) -> None:
        assert self.process is not None
        self._buffer += bytes(self.process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # not an event (a library printing something)
            if not isinstance(event, dict):
                continue
            kind = event.get("event")
            if kind == "start":
                self.status.setText(f"Click model: learning from {event.get('instances')} "
                                    f"instances…")
            elif kind == "step":
                self.status.setText(f"Click model: step {event.get('step')}, "
                                    f"{100 * float(event.get('progress', 0)):.0f} %")
            elif kind == "done":
                self._done = event

    def _read_errors(self) -> None:
        assert self.process is not None
        self._stderr = (self._stderr + bytes(self.process.readAllStandardError().data()))[-4000:]

    def _finished(self, code: int, status) -> None:
        self._read()
        self.button.setText("Train click model")
        if code == EXIT_OK and self._done is not None:
            self.status.setText(f"Click model: trained ({self._done.get('steps')} steps); "
                                + holdout_in_words(self._done.get("holdout") or {}) + ".")
            self.trained.emit()
        elif code == EXIT_CANCELLED:
            self.status.setText("Click model: stopped; the project keeps the one it had.")
        else:
            lines = self._stderr.decode("utf-8", "replace").strip().splitlines()
            self.status.setText(f"Click model: not trained — {lines[-1] if lines else code}")
