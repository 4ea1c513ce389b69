"""The station view beside the camera: the latest image with what was found drawn on it, a
large OK / NG with the reasons, counters and the last verdicts, readable from two metres.
The watch (ml.infer.line_watch) runs in a thread of its own; the window only shows its rows."""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtGui import QFont, QImage, QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QMainWindow,
                               QSizePolicy, QVBoxLayout, QWidget)

from isegui.ml.infer.line_watch import Watcher

LAST_SHOWN = 12
COLORS = {"OK": "#1e8449", "NG": "#c0392b", "": "#566573"}


class WatchThread(QThread):
    """Runs the watch; each inspected image comes out as a row and the drawn image."""
    inspected = Signal(dict, QImage)
    said = Signal(str)

    def __init__(self, watcher: Watcher, parent: QObject | None = None):
        super().__init__(parent)
        self.watcher = watcher
        self._stop = False
        watcher.say = self.said.emit
        watcher.on_inspected = self._show

    def _show(self, row: dict, pixels: np.ndarray | None, found: list) -> None:
        self.inspected.emit(row, to_qimage(self.watcher.draw(pixels, found, row["verdict"])))

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
        self.last = QListWidget()
        self.last.setFont(QFont("Monospace", 16))
        side = QVBoxLayout()
        for widget, stretch in ((self.verdict, 3), (self.reasons, 2), (self.counters, 0),
                                (self.last, 4)):
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
        self._show_verdict("", "")
        self.thread = WatchThread(watcher, self)
        self.thread.inspected.connect(self.show_row)
        self.thread.said.connect(lambda text: self.statusBar().showMessage(text, 8000))

    def start(self) -> None:
        self.thread.start()

    def show_row(self, row: dict, image: QImage) -> None:
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
        self.thread.stop()
        self.thread.wait(10_000)
        super().closeEvent(event)
