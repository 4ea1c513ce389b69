"""The image browser: every image with its status and instance count, a filter, and
next/previous (D / A, as in labelme)."""

from __future__ import annotations

from pathlib import PurePosixPath

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QComboBox, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout,
                               QWidget)

from isegui.core.entities import ImageStatus

STATUS_COLORS = {ImageStatus.UNLABELED: "#9e9e9e", ImageStatus.LABELED: "#42a5f5",
                 ImageStatus.REVIEWED: "#66bb6a"}
STATUS_MARKS = {ImageStatus.UNLABELED: "○", ImageStatus.LABELED: "◐",
                ImageStatus.REVIEWED: "●"}


class ImagePanel(QWidget):
    def __init__(self, session):
        super().__init__()
        self.session = session
        self.filter = QComboBox()
        self.filter.setToolTip("Which images to list")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter by name")
        self.list = QListWidget()
        self.list.setUniformItemSizes(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.filter)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        self._records = {}
        self._counts: dict[int, int] = {}
        self._fill_filter()
        self.filter.currentIndexChanged.connect(self.reload)
        self.search.textChanged.connect(self.reload)
        self.list.currentItemChanged.connect(self._picked)
        session.imagesChanged.connect(self.reload)
        session.imageEdited.connect(self._refresh_image)
        session.classesChanged.connect(self._fill_filter)
        session.documentChanged.connect(self._follow_document)
        self.reload()

    def _fill_filter(self) -> None:
        current = self.filter.currentData()
        self.filter.blockSignals(True)
        self.filter.clear()
        self.filter.addItem("All images", ("all", None))
        self.filter.addItem("Unlabeled first", ("unlabeled-first", None))
        for status in ImageStatus:
            self.filter.addItem(f"Only {status.value}", ("status", status))
        for split in ("train", "val", "test"):
            self.filter.addItem(f"Split: {split}", ("split", split))
        for cls in self.session.classes():
            self.filter.addItem(f"With class: {cls.name}", ("class", cls.id))
        index = self.filter.findData(current) if current else 0
        self.filter.setCurrentIndex(max(0, index))
        self.filter.blockSignals(False)

    def reload(self) -> None:
        records = self.session.images()
        self._records = {r.id: r for r in records}
        self._counts = self.session.store.instance_counts()
        kind, value = self.filter.currentData() or ("all", None)
        if kind == "status":
            records = [r for r in records if r.status == value]
        elif kind == "split":
            records = [r for r in records if r.split.value == value]
        elif kind == "class":
            having = self.session.store.images_with_class(value)
            records = [r for r in records if r.id in having]
        elif kind == "unlabeled-first":
            records = sorted(records, key=lambda r: r.status != ImageStatus.UNLABELED)
        text = self.search.text().strip().lower()
        if text:
            records = [r for r in records if text in r.path.lower()]
        current = self.session.document.image_id if self.session.document else None
        self.list.blockSignals(True)
        self.list.clear()
        for record in records:
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, record.id)
            self._describe(item, record)
            self.list.addItem(item)
            if record.id == current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def _describe(self, item: QListWidgetItem, record) -> None:
        count = self._counts.get(record.id, 0)
        name = PurePosixPath(record.path).name
        item.setText(f"{STATUS_MARKS[record.status]} {name}   {count}   {record.split.value}")
        item.setForeground(QBrush(QColor(STATUS_COLORS[record.status])))
        item.setToolTip(f"{record.path}\n{record.width} x {record.height} px, "
                        f"{record.status.value}, {count} instances, {record.split.value}")

    def _refresh_image(self, image_id: int) -> None:
        record = self.session.store.image(image_id)
        self._records[image_id] = record
        self._counts[image_id] = self.session.store.instance_count(image_id)
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == image_id:
                self._describe(item, record)

    def _picked(self, item, _previous) -> None:
        if item is not None:
            image_id = item.data(Qt.ItemDataRole.UserRole)
            if self.session.document is None or self.session.document.image_id != image_id:
                self.session.open_image(image_id)

    def _follow_document(self) -> None:
        doc = self.session.document
        if doc is None:
            return
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == doc.image_id:
                self.list.blockSignals(True)
                self.list.setCurrentRow(row)
                self.list.blockSignals(False)
                return

    def step(self, delta: int) -> None:
        """Next (+1) or previous (-1) image in the list as filtered."""
        if self.list.count() == 0:
            return
        row = self.list.currentRow()
        row = 0 if row < 0 else min(self.list.count() - 1, max(0, row + delta))
        self.list.setCurrentRow(row)

    def listed_ids(self) -> list[int]:
        """The images the list shows, in its order (the filter applied)."""
        return [self.list.item(r).data(Qt.ItemDataRole.UserRole) for r in range(self.list.count())]

    def previous_image_id(self) -> int | None:
        """The image listed before the one on screen (for copying labels along a sequence)."""
        row = self.list.currentRow()
        if row <= 0:
            return None
        return self.list.item(row - 1).data(Qt.ItemDataRole.UserRole)
