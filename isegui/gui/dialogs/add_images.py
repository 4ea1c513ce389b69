"""File > Add images…: folders or files, with the options New project… shares (subfolders,
an extension filter, copy into the project)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QPushButton, QVBoxLayout, QWidget)

from isegui.core.add_images import parse_suffixes
from isegui.core.entities import Split
from isegui.core.images import IMAGE_SUFFIXES
from isegui.core.project import IMAGES_DIR
from isegui.gui.workers.add_images_worker import AddImagesJob

FILE_FILTER = "Images ({})".format(" ".join(f"*{s}" for s in IMAGE_SUFFIXES))


class ImageOptions(QWidget):
    """Subfolders, extensions, copy: how a folder of images is read."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.subfolders = QCheckBox("Include subfolders")
        self.subfolders.setChecked(True)
        self.extensions = QLineEdit()
        self.extensions.setPlaceholderText("all: " + ", ".join(s[1:] for s in IMAGE_SUFFIXES))
        self.extensions.setToolTip("Only files with these extensions, e.g. jpg, png")
        self.copy = QCheckBox(f"Copy the images into the project's {IMAGES_DIR}/ folder")
        self.copy.setToolTip("Unchecked, the project refers to the images where they are")
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addRow(self.subfolders)
        layout.addRow("Extensions", self.extensions)
        layout.addRow(self.copy)

    def job(self, sources: list[Path], split: Split = Split.TRAIN) -> AddImagesJob:
        return AddImagesJob(tuple(sources), recursive=self.subfolders.isChecked(),
                            suffixes=parse_suffixes(self.extensions.text()),
                            copy=self.copy.isChecked(), split=split)


class AddImagesDialog(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Add images")
        self.sources = QListWidget()
        self.sources.setToolTip("Folders and image files to add; they come in unlabeled")
        folder = QPushButton("Add folder…")
        files = QPushButton("Add files…")
        remove = QPushButton("Remove")
        folder.clicked.connect(self._choose_folder)
        files.clicked.connect(self._choose_files)
        remove.clicked.connect(lambda: [self.sources.takeItem(self.sources.row(i))
                                        for i in self.sources.selectedItems()])
        self.options = ImageOptions()
        self.split = QComboBox()
        for split in Split:
            self.split.addItem(split.value, split)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c62828")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        for button in (folder, files, remove):
            row.addWidget(button)
        row.addStretch()
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Folders and files (they come in unlabeled):"))
        layout.addWidget(self.sources)
        layout.addLayout(row)
        layout.addWidget(self.options)
        split_row = QFormLayout()
        split_row.addRow("Split", self.split)
        layout.addLayout(split_row)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(560, 420)

    def add_sources(self, paths) -> None:
        present = set(self.paths())
        for path in paths:
            if Path(path) not in present:
                self.sources.addItem(str(path))

    def paths(self) -> list[Path]:
        return [Path(self.sources.item(r).text()) for r in range(self.sources.count())]

    def job(self) -> AddImagesJob:
        return self.options.job(self.paths(), self.split.currentData())

    def _choose_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Folder of images")
        if chosen:
            self.add_sources([chosen])

    def _choose_files(self) -> None:
        chosen, _ = QFileDialog.getOpenFileNames(self, "Image files", "",
                                                 f"{FILE_FILTER};;All files (*)")
        self.add_sources(chosen)

    def accept(self) -> None:
        missing = [p for p in self.paths() if not p.exists()]
        if not self.paths():
            self.error.setText("Add a folder or some image files first.")
        elif missing:
            self.error.setText(f"{missing[0]}: not found.")
        else:
            super().accept()
