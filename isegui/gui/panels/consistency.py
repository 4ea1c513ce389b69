"""The checks of `isegui validate`: live for the image on screen, on demand for the project.
Clicking a finding opens its image and selects its instances."""

from __future__ import annotations

from PySide6.QtCore import Qt, QThread, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QVBoxLayout, QWidget)

from isegui.core.project import Project
from isegui.core.validate import validate_image, validate_project

SEVERITY_COLORS = {"error": "#ef5350", "warning": "#ffb74d", "info": "#90a4ae"}


class _ProjectCheck(QThread):
    """Checks every image in a thread of its own, on its own read-only connection."""
    done = Signal(object)

    def __init__(self, folder):
        super().__init__()
        self.folder = folder

    def run(self) -> None:
        with Project.open(self.folder, read_only=True) as project:
            self.done.emit(validate_project(project))


class ConsistencyPanel(QWidget):
    def __init__(self, session):
        super().__init__()
        self.session = session
        self.document = None
        self.title = QLabel()
        self.list = QListWidget()
        self.check_all = QPushButton("Check the whole project")
        self.show_image = QPushButton("This image")
        row = QHBoxLayout()
        row.addWidget(self.show_image)
        row.addWidget(self.check_all)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.list)
        layout.addLayout(row)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(250)  # edits come in bursts: check once they settle
        self._timer.timeout.connect(self.check_image)
        session.aboutToClose.connect(self._timer.stop)
        self._worker: _ProjectCheck | None = None
        self.project_mode = False
        self.list.itemActivated.connect(self._go)
        self.list.itemClicked.connect(self._go)
        self.check_all.clicked.connect(self.check_project)
        self.show_image.clicked.connect(self._back_to_image)
        session.documentChanged.connect(self._set_document)
        session.classesChanged.connect(self._timer.start)
        self._set_document()

    def _set_document(self) -> None:
        if self.document is not None:
            for signal in (self.document.instanceAdded, self.document.instanceChanged,
                           self.document.instanceRemoved):
                signal.disconnect(self._timer.start)
        self.document = self.session.document
        if self.document is not None:
            for signal in (self.document.instanceAdded, self.document.instanceChanged,
                           self.document.instanceRemoved):
                signal.connect(self._timer.start)
        if not self.project_mode:
            self.check_image()

    def _back_to_image(self) -> None:
        self.project_mode = False
        self.check_image()

    def check_image(self) -> None:
        if self.project_mode:
            return
        doc = self.document
        findings = [] if doc is None else validate_image(
            doc.record, doc.instances(), self.session.classes())
        self._show(findings, "This image")

    def check_project(self) -> None:
        if self._worker is not None:
            return
        self.project_mode = True
        self.title.setText("Checking every image…")
        self._worker = _ProjectCheck(self.session.project.folder)
        self._worker.done.connect(self._project_done)
        self._worker.start()

    def _project_done(self, report) -> None:
        assert self._worker is not None  # its done signal
        self._worker.wait()
        self._worker = None
        counts = report.as_dict()["summary"]
        self._show(report.findings, f"Project: {counts['error']} errors, "
                                    f"{counts['warning']} warnings, {counts['info']} notes")

    def _show(self, findings, title: str) -> None:
        if not self.project_mode:
            errors = sum(f.severity == "error" for f in findings)
            title = f"{title}: {len(findings)} findings" + (f", {errors} errors" if errors else "")
        self.title.setText(title)
        self.list.clear()
        for f in findings:
            where = "" if self.project_mode is False or not f.image_path else f"{f.image_path}: "
            item = QListWidgetItem(f"{f.severity}: {where}{f.message}")
            item.setForeground(QBrush(QColor(SEVERITY_COLORS.get(f.severity, "#ffffff"))))
            item.setData(Qt.ItemDataRole.UserRole, (f.image_id, f.instance_ids))
            item.setToolTip(f.code)
            self.list.addItem(item)
        if not findings:
            self.list.addItem("No findings.")

    def _go(self, item: QListWidgetItem) -> None:
        data = item.data(Qt.ItemDataRole.UserRole)
        if not data or data[0] is None:
            return
        image_id, instance_ids = data
        doc = self.session.document_for(image_id)
        doc.set_selection(list(instance_ids))
