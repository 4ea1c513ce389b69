"""What will limit the next run, shown under the training settings: preflight's advice. The
project's labels are read (and its images checked) in a thread, once each time the settings are
shown; each change of a setting then only recomputes the advice, which is arithmetic. Copying a
weights file into the weights folder runs in a thread too (it builds the models to check it)."""

from __future__ import annotations

import html
import logging
from pathlib import Path

from PySide6.QtCore import Qt, QThread, Signal
from PySide6.QtWidgets import QLabel

from isegui.core.errors import IseguiError
from isegui.core.store import WRITE_FAILURES
from isegui.ml.train.preflight import ERROR, WARNING, Advice, read_facts, with_file_checks

LEVEL_COLORS = {ERROR: "#d32f2f", WARNING: "#e65100"}  # info: the text's own colour
log = logging.getLogger(__name__)


class FactsReader(QThread):
    """Reads the project's labels, then checks its images: `read` comes twice, the second
    time with the unreadable files known."""
    read = Signal(object)  # preflight.ProjectFacts

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder
        self.stopped = False

    def run(self) -> None:
        try:
            facts = read_facts(self.folder, check_files=False)
            self.read.emit(facts)
            checked = with_file_checks(facts, self.folder, lambda: self.stopped)
            if checked.files_checked and not self.stopped:
                self.read.emit(checked)
        except (IseguiError, *WRITE_FAILURES) as exc:  # advice is a help: the panel works
            # without it (a team's server away, a project file gone)
            log.warning("could not read the project for the training advice: %s", exc)


class WeightsInstaller(QThread):
    """`install_weights` off the UI thread: done(InstalledWeights) or failed(message)."""
    done = Signal(object)
    failed = Signal(str)

    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        self.stopped = False  # set on closing, like FactsReader's; an install runs to its end

    def run(self) -> None:
        from isegui.ml.model.weights_install import install_weights
        try:
            self.done.emit(install_weights(self.path))
        except (IseguiError, ValueError, OSError) as exc:
            self.failed.emit(str(exc))


class AdviceView(QLabel):
    """One paragraph per piece of advice; the titles of warnings and errors in a colour that
    stands out."""

    def __init__(self):
        super().__init__()
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setToolTip("What will limit a run with these settings, from the project's labels")
        self.advice: list[Advice] = []

    def show_advice(self, advice: list[Advice]) -> None:
        self.advice = advice
        paragraphs = []
        for item in advice:
            color = LEVEL_COLORS.get(item.level)
            style = f' style="color:{color}"' if color else ""
            paragraphs.append(f"<p><b{style}>{html.escape(item.title.capitalize())}:</b> "
                              f"{html.escape(item.text)}</p>")
        self.setText("".join(paragraphs) or "Nothing stands in the way of these settings.")

    def show_message(self, text: str) -> None:
        self.advice = []
        self.setText(html.escape(text))
