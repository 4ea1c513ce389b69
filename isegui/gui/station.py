"""The station view beside the camera: the latest image with what was found drawn on it, a
large OK / NG with the reasons, counters and the last verdicts, readable from two metres.
The watch (ml.infer.line_watch) runs in a thread of its own; the window only shows its rows."""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QFont, QImage, QPixmap
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QMainWindow, QPushButton, QSizePolicy, QVBoxLayout, QWidget)

from isegui.ml.infer.line_watch import STOP_FILE, Watcher
from isegui.ml.infer.verdict_drawing import draw_verdict

LAST_SHOWN = 12
COLORS = {"OK": "#1e8449", "NG": "#c0392b", "": "#566573"}


class WatchThread(QThread):
    """Runs the watch; each inspected image comes out as a row and the drawn image (what the
    rules counted numbered, the rest only with `show_all`), and what drew it, to draw again."""
    inspected = Signal(dict, QImage, object)  # row, image, (pixels, found, marks)
    said = Signal(str)

    def __init__(self, watcher: Watcher, parent: QObject | None = None):
        super().__init__(parent)
        self.watcher = watcher
        self.show_all = False
        self._stop = False
        watcher.say = self.said.emit
        watcher.on_inspected = self._show

    def _show(self, row: dict, pixels: np.ndarray | None, found: list, marks: list) -> None:
        drawn = draw_verdict(pixels, found, row["verdict"], marks or None, self.show_all)
        self.inspected.emit(row, to_qimage(drawn), (pixels, found, marks))

    def stop(self) -> None:
        self._stop = True

    def run(self) -> None:
        self.watcher.run(stop=lambda: self._stop)


def to_qimage(bgr: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class StationWindow(QMainWindow):
    thread: WatchThread  # type: ignore[assignment]  # hides QObject.thread(); tests use the name

    def __init__(self, watcher: Watcher, title: str = "isegui station"):
        super().__init__()
        self.setWindowTitle(title)
        self.parts = self.ng = 0
        self.image = QLabel("Waiting for the first image…")
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.image.setStyleSheet("QLabel { background: #1b1b1b; color: #cccccc; }")
        self.verdict = QLabel("—")
        self.verdict.setObjectName("verdict")
        self.verdict.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.verdict.setFont(QFont("Sans", 96, QFont.Weight.Bold))
        self.reasons = QLabel("")
        self.reasons.setWordWrap(True)
        self.reasons.setFont(QFont("Sans", 20))
        self.counters = QLabel("")
        self.counters.setFont(QFont("Sans", 22, QFont.Weight.Bold))
        self.show_all = QCheckBox("Show everything found (grey: not counted by the rules)")
        self.show_all.setFont(QFont("Sans", 12))
        self.show_all.toggled.connect(self._show_all_toggled)
        self.remove_stop = QPushButton(f"Remove {STOP_FILE} and start")
        self.remove_stop.setFont(QFont("Sans", 16))
        self.remove_stop.clicked.connect(self._remove_stop_file)
        self.remove_stop.hide()
        self.last = QListWidget()
        self.last.setFont(QFont("Monospace", 16))
        side = QVBoxLayout()
        for widget, stretch in ((self.verdict, 3), (self.reasons, 2), (self.remove_stop, 0),
                                (self.counters, 0), (self.show_all, 0), (self.last, 4)):
            side.addWidget(widget, stretch)
        panel = QWidget()
        panel.setLayout(side)
        panel.setMinimumWidth(460)
        panel.setMaximumWidth(620)
        body = QHBoxLayout()
        body.addWidget(self.image, 1)
        body.addWidget(panel)
        central = QWidget()
        central.setLayout(body)
        self.setCentralWidget(central)
        self._pixmap: QPixmap | None = None
        self._recent: deque[tuple[str, str]] = deque(maxlen=LAST_SHOWN)
        self._last: tuple[dict, tuple] | None = None  # the image on screen: row, what drew it
        self._show_verdict("", "")
        self.stop_file = watcher.settings.folder / STOP_FILE
        self.stopped_by = ""  # the watch's last words, shown when it stops
        self.thread = WatchThread(watcher, self)
        self.thread.inspected.connect(self.show_row)
        self.thread.said.connect(self._said)
        self.thread.finished.connect(self._stopped)
        self._stop_poll = QTimer(self)  # a STOP file left at start: wait for it to go
        self._stop_poll.setInterval(1000)
        self._stop_poll.timeout.connect(self.start)

    def start(self) -> None:
        """Start the watch, unless a STOP file waits in the folder: then say so in large and
        start when it is gone (or removed with the button)."""
        if self.stop_file.exists():
            self.verdict.setText("STOP")
            self.verdict.setStyleSheet(f"QLabel {{ color: white; background: {COLORS['']}; "
                                       "border-radius: 12px; }")
            self.reasons.setText(f"A {STOP_FILE} file is in {self.stop_file.parent}: nothing "
                                 "is inspected until it is removed.")
            self.image.setText(f"Waiting for {self.stop_file} to be removed…")
            self.remove_stop.show()
            self._stop_poll.start()
            return
        self._stop_poll.stop()
        self.remove_stop.hide()
        if not self.thread.isRunning():
            self._show_verdict("", "")
            self.image.setText("Waiting for the first image…")
            self.thread.start()

    def _remove_stop_file(self) -> None:
        try:
            self.stop_file.unlink(missing_ok=True)
        except OSError as exc:
            self.reasons.setText(f"{self.stop_file}: cannot remove it ({exc.strerror or exc})")
            return
        self.start()

    def _said(self, text: str) -> None:
        self.stopped_by = text
        self.statusBar().showMessage(text, 8000)

    def _stopped(self) -> None:
        """The watch ended (a STOP file, an error): the screen must not look live."""
        self.verdict.setText("STOPPED")
        self.verdict.setStyleSheet("QLabel { color: white; background: #7f8c8d; "
                                   "border-radius: 12px; }")
        self.reasons.setText(f"Not inspecting. {self.stopped_by}".strip())
        self.setWindowTitle(f"{self.windowTitle().removesuffix(' — STOPPED')} — STOPPED")

    def _show_all_toggled(self, on: bool) -> None:
        self.thread.show_all = on
        if self._last is not None:  # the image on screen drawn again
            row, (pixels, found, marks) = self._last
            self._pixmap = QPixmap.fromImage(to_qimage(draw_verdict(
                pixels, found, row["verdict"], marks or None, on)))
            self._fit_image()

    def show_row(self, row: dict, image: QImage, drawn_from: tuple = (None, [], [])) -> None:
        self._last = (row, drawn_from)
        verdict = str(row.get("verdict") or "")
        self.parts += 1
        self.ng += verdict == "NG"
        self._show_verdict(verdict, str(row.get("reasons") or ""))
        self._pixmap = QPixmap.fromImage(image)
        self._fit_image()
        share = 100.0 * self.ng / self.parts
        self.counters.setText(f"Parts {self.parts}   NG {self.ng} ({share:.1f} %)")
        self._recent.appendleft((verdict or "—", str(row.get("file"))))
        self.last.clear()
        for word, name in self._recent:
            item = QListWidgetItem(f"{word:>2}  {name}")
            item.setForeground(Qt.GlobalColor.white)
            item.setBackground(Qt.GlobalColor.darkGreen if word == "OK" else
                               Qt.GlobalColor.darkRed if word == "NG" else Qt.GlobalColor.gray)
            self.last.addItem(item)

    def _show_verdict(self, verdict: str, reasons: str) -> None:
        self.verdict.setText(verdict or "—")
        self.verdict.setStyleSheet(f"QLabel {{ color: white; background: {COLORS[verdict]}; "
                                   "border-radius: 12px; }")
        self.reasons.setText(reasons.replace("; ", "\n") if reasons else
                             ("" if verdict != "OK" else "within every rule"))

    def _fit_image(self) -> None:
        if self._pixmap is not None:
            self.image.setPixmap(self._pixmap.scaled(
                self.image.size(), Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_image()

    def closeEvent(self, event) -> None:
        self._stop_poll.stop()
        self.thread.stop()
        self.thread.wait(10_000)
        super().closeEvent(event)
