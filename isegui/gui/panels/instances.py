"""The instance list of the image on screen: id, class, area, source, track; selection in step
with the canvas; hide, lock, raise, lower, change class, delete; counts per class."""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QLabel, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from isegui.gui import edit_actions
from isegui.gui.panels.classes import swatch
from isegui.gui.tools.edit import delete_instances

COLUMNS = ("id", "class", "area", "source", "track", "")


class InstancePanel(QWidget):
    def __init__(self, session, ctx):
        super().__init__()
        self.session, self.ctx = session, ctx
        self.document = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(["Id", "Class", "Area", "Source", "Track", "State"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.class_box = QComboBox()
        self.class_box.setToolTip("Give the selected instances this class")
        self.counts = QLabel()
        self.counts.setWordWrap(True)
        row = QHBoxLayout()
        for label, tip, slot in (
                ("Hide", "Hide or show the selected instances", self.toggle_hidden),
                ("Lock", "Lock or unlock: locked instances cannot be selected on the canvas "
                         "or edited", self.toggle_locked),
                ("Up", "Raise: draw above the next instance (PgUp)",
                 lambda: edit_actions.restack(ctx, +1)),
                ("Down", "Lower (PgDown)", lambda: edit_actions.restack(ctx, -1)),
                ("Delete", "Delete the selected instances (Del)",
                 lambda: delete_instances(ctx, self._editable()))):
            button = QPushButton(label)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            row.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table)
        layout.addLayout(row)
        layout.addWidget(self.class_box)
        layout.addWidget(self.counts)
        self.table.itemSelectionChanged.connect(self._table_selected)
        self.class_box.activated.connect(self._class_chosen)
        session.documentChanged.connect(self._set_document)
        session.classesChanged.connect(self._fill_classes)
        session.classesChanged.connect(self.reload)
        self._fill_classes()
        self._set_document()

    def _set_document(self) -> None:
        if self.document is not None:
            for signal in self._signals(self.document):
                signal.disconnect(self.reload)
            self.document.selectionChanged.disconnect(self._sync_selection)
        self.document = self.session.document
        if self.document is not None:
            for signal in self._signals(self.document):
                signal.connect(self.reload)
            self.document.selectionChanged.connect(self._sync_selection)
        self.reload()

    @staticmethod
    def _signals(doc):
        return (doc.instanceAdded, doc.instanceChanged, doc.instanceRemoved, doc.viewStateChanged)

    def reload(self, *_) -> None:
        doc = self.document
        instances = list(reversed(doc.instances())) if doc else []  # topmost first
        mm = self.session.project.mm_per_px
        self.table.blockSignals(True)
        self.table.setRowCount(len(instances))
        for row, inst in enumerate(instances):
            cls = self.session.class_by_id(inst.class_id)
            area = inst.shape.area
            area_text = f"{area * mm * mm:.2f} mm²" if mm else f"{area:.0f} px²"
            state = " ".join(s for s, on in (("hidden", inst.id in doc.hidden),
                                             ("locked", inst.id in doc.locked)) if on)
            cells = [str(inst.id), "ignore" if inst.crowd and cls is None else
                     (cls.name if cls else "(no class)"), area_text, inst.source.value,
                     "" if inst.track_id is None else str(inst.track_id), state]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, inst.id)
                if col == 1 and cls is not None:
                    item.setIcon(swatch(cls.color))
                self.table.setItem(row, col, item)
        self.table.blockSignals(False)
        counts = Counter(inst.class_id for inst in instances if not inst.crowd)
        self.counts.setText("  ".join(
            f"{c.name}: {counts[c.id]}" for c in self.session.classes() if counts[c.id])
            + (f"  (no class): {counts[None]}" if counts[None] else "")
            or "No instances")
        self._sync_selection()

    def _fill_classes(self) -> None:
        self.class_box.clear()
        self.class_box.addItem("Change class to…", None)
        for cls in self.session.classes():
            self.class_box.addItem(swatch(cls.color), cls.name, cls.id)

    def _class_chosen(self, index: int) -> None:
        class_id = self.class_box.itemData(index)
        self.class_box.setCurrentIndex(0)
        if class_id is not None:
            edit_actions.change_class(self.ctx, class_id)

    def _sync_selection(self) -> None:
        doc = self.document
        selected = set(doc.selected) if doc else set()
        self.table.blockSignals(True)
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) in selected:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)
        self.table.blockSignals(False)

    def _table_selected(self) -> None:
        if self.document is None:
            return
        ids = sorted({self.table.item(i.row(), 0).data(Qt.ItemDataRole.UserRole)
                      for i in self.table.selectedIndexes()})
        self.document.set_selection(ids)

    def _editable(self) -> list[int]:
        doc = self.document
        return [i for i in doc.selected if doc.editable(i)] if doc else []

    def toggle_hidden(self) -> None:
        doc = self.document
        if doc and doc.selected:
            hide = not all(i in doc.hidden for i in doc.selected)
            for inst_id in doc.selected:
                doc.set_hidden(inst_id, hide)

    def toggle_locked(self) -> None:
        doc = self.document
        if doc and doc.selected:
            lock = not all(i in doc.locked for i in doc.selected)
            for inst_id in doc.selected:
                doc.set_locked(inst_id, lock)
