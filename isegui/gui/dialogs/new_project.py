"""File > New project…: a (new or empty) folder for the project, a folder of images, and
optionally the class names; the images come in unlabeled."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QPlainTextEdit, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from isegui.core.project import PROJECT_FILE
from isegui.gui.dialogs.add_images import ImageOptions
from isegui.gui.workers.add_images_worker import AddImagesJob


@dataclass(frozen=True)
class NewProjectRequest:
    folder: Path
    classes: tuple[str, ...]
    job: AddImagesJob


def parse_classes(text: str) -> tuple[str, ...]:
    """Class names separated by commas or lines, in order, each once."""
    names = (n.strip() for n in re.split(r"[,\n]", text))
    return tuple(dict.fromkeys(n for n in names if n))


VAL_EVERY = 7  # a new project holds one image in this many out for validation


class NewProjectDialog(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("New project from images")
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("a new or empty folder")
        self.images = QLineEdit()
        self.images.setPlaceholderText("the folder of your photos")
        self.classes = QPlainTextEdit()
        self.classes.setPlaceholderText("Optional: class names, separated by commas or one a "
                                        "line (e.g. scratch, dent). You can add them later.")
        self.classes.setFixedHeight(80)
        self.options = ImageOptions()
        self.val_every = QSpinBox()
        self.val_every.setRange(0, 50)
        self.val_every.setValue(VAL_EVERY)
        self.val_every.setSpecialValueText("none")
        self.val_every.setPrefix("1 in ")
        self.val_every.setSuffix(" images")
        self.val_every.setToolTip(
            "Images put in the val split as they come in: training never learns from them and "
            "measures itself on them once they are labeled. Right-click images in the list to "
            "move them between train, val and test later.")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Project folder", self._with_browse(self.folder, "Project folder"))
        form.addRow("Images folder", self._with_browse(self.images, "Folder of images"))
        form.addRow("Classes", self.classes)
        form.addRow("Hold out for validation", self.val_every)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.options)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(620, 360)

    def _with_browse(self, edit: QLineEdit, title: str) -> QWidget:
        button = QPushButton("Choose…")
        button.setObjectName(f"choose-{'project' if edit is self.folder else 'images'}")
        button.clicked.connect(lambda: self._browse_new(edit, title) if edit is self.folder
                               else self._browse(edit, title))
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit)
        row.addWidget(button)
        return box

    def _browse(self, edit: QLineEdit, title: str) -> None:
        chosen = QFileDialog.getExistingDirectory(self, title, edit.text())
        if chosen:
            edit.setText(chosen)

    def _browse_new(self, edit: QLineEdit, title: str) -> None:
        """The project's folder: a new name typed where it is to be made (a folder chooser
        answers "Directory not found" to a name that does not exist yet)."""
        dialog = QFileDialog(self, title, edit.text() or str(Path.home()))
        dialog.setObjectName("project-folder-chooser")
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setOption(QFileDialog.Option.DontConfirmOverwrite)
        dialog.setLabelText(QFileDialog.DialogLabel.FileName, "New folder")
        dialog.setLabelText(QFileDialog.DialogLabel.Accept, "Use")
        if dialog.exec() and dialog.selectedFiles():
            edit.setText(dialog.selectedFiles()[0])

    def request(self) -> NewProjectRequest:
        images = Path(self.images.text().strip())
        job = replace(self.options.job([images]), val_every=self.val_every.value())
        return NewProjectRequest(Path(self.folder.text().strip()),
                                 parse_classes(self.classes.toPlainText()), job)

    def problem(self) -> str | None:
        """Why the values cannot make a project, or None."""
        folder, images = self.folder.text().strip(), self.images.text().strip()
        if not folder:
            return "Choose a folder for the project."
        if not images:
            return "Choose the folder of images."
        if not Path(images).is_dir():
            return f"{images}: not a folder."
        if (Path(folder) / PROJECT_FILE).exists():
            return f"{folder} already holds a project: open it, then File > Add images…"
        if Path(folder).exists() and (not Path(folder).is_dir() or any(Path(folder).iterdir())):
            return f"{folder}: not empty. Choose a new or empty folder for the project."
        return None

    def accept(self) -> None:
        problem = self.problem()
        if problem:
            self.error.setText(problem)
        else:
            super().accept()
