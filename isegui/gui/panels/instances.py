"""The instance list of the image on screen: id, class, area, source, track; selection in step
with the canvas; hide, lock, raise, lower, change class, delete; counts per class.

A table model over the document: it keeps only the order of instance ids and asks the
document for the rest when a row is shown, so thousands of instances cost nothing extra."""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import (QAbstractTableModel, QItemSelection, QItemSelectionModel,
                            QModelIndex, Qt)
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QLabel, QPushButton,
                               QTableView, QVBoxLayout, QWidget)

from isegui.gui import edit_actions
from isegui.gui.document import ImageDocument
from isegui.gui.panels.classes import swatch
from isegui.gui.tools.edit import delete_instances

HEADERS = ("Id", "Class", "Area", "Source", "Track", "State")


class InstanceTableModel(QAbstractTableModel):
    def __init__(self, session):
        super().__init__()
        self.session = session
        self.document = None
        self.ids: list[int] = []  # topmost first
        self.rows: dict[int, int] = {}

    def set_document(self, document) -> None:
        self.beginResetModel()
        self.document = document
        self._order()
        self.endResetModel()

    def reorder(self, *_) -> None:
        self.beginResetModel()
        self._order()
        self.endResetModel()

    def _order(self) -> None:
        self.ids = [i.id for i in reversed(self.document.instances())] if self.document else []
        self.rows = {inst_id: row for row, inst_id in enumerate(self.ids)}

    def changed(self, instance_id: int) -> None:
        row = self.rows.get(instance_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(HEADERS) - 1))

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.ids)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.document is None:
            return None
        inst_id = self.ids[index.row()]
        if inst_id not in self.document:
            return None
        inst = self.document.instance(inst_id)
        cls = self.session.class_by_id(inst.class_id)
        col = index.column()
        if role == Qt.ItemDataRole.DecorationRole and col == 1 and cls is not None:
            return swatch(cls.color)
        if role == Qt.ItemDataRole.UserRole:
            return inst_id
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if col == 0:
            return str(inst.id)
        if col == 1:
            return "ignore" if inst.crowd and cls is None else (cls.name if cls else "(no class)")
        if col == 2:
            mm = self.session.project.mm_per_px
            area = inst.shape.area
            return f"{area * mm * mm:.2f} mm²" if mm else f"{area:.0f} px²"
        if col == 3:
            return inst.source.value
        if col == 4:
            return "" if inst.track_id is None else str(inst.track_id)
        doc = self.document
        return " ".join(s for s, on in (("hidden", inst_id in doc.hidden),
                                        ("locked", inst_id in doc.locked)) if on)


class InstancePanel(QWidget):
    def __init__(self, session, ctx):
        super().__init__()
        self.session, self.ctx = session, ctx
        self.document: ImageDocument | None = None
        self.model = InstanceTableModel(session)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setStretchLastSection(True)
        for column, width in enumerate((44, 110, 88, 78, 44)):
            self.table.setColumnWidth(column, width)
        self.class_box = QComboBox()
        # sized by a few characters, not by the longest class name (elided in the list)
        self.class_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.class_box.setMinimumContentsLength(12)
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
        self._syncing = False
        self.table.selectionModel().selectionChanged.connect(self._table_selected)
        self.class_box.activated.connect(self._class_chosen)
        session.documentChanged.connect(self._set_document)
        session.classesChanged.connect(self._fill_classes)
        session.classesChanged.connect(self._refresh)
        self._fill_classes()
        self._set_document()

    # ------------------------------------------------------------------ document

    def _set_document(self) -> None:
        old = self.document
        if old is not None:
            old.instanceAdded.disconnect(self._refresh)
            old.instanceRemoved.disconnect(self._refresh)
            old.instanceChanged.disconnect(self._changed)
            old.viewStateChanged.disconnect(self._changed)
            old.selectionChanged.disconnect(self._sync_selection)
        self.document = self.session.document
        doc = self.document
        if doc is not None:
            doc.instanceAdded.connect(self._refresh)
            doc.instanceRemoved.connect(self._refresh)
            doc.instanceChanged.connect(self._changed)
            doc.viewStateChanged.connect(self._changed)
            doc.selectionChanged.connect(self._sync_selection)
        self.model.set_document(doc)
        self._update_counts()
        self._sync_selection()

    def _refresh(self, *_) -> None:
        self.model.reorder()
        self._update_counts()
        self._sync_selection()

    def _changed(self, instance_id: int) -> None:
        rows = self.model.ids
        doc = self.document
        assert doc is not None  # its signal
        order_now = [i.id for i in reversed(doc.instances())]
        if order_now != rows:  # z or membership changed
            self._refresh()
        else:
            self.model.changed(instance_id)
            self._update_counts()

    def _update_counts(self) -> None:
        doc = self.document
        counts = Counter(i.class_id for i in doc.instances() if not i.crowd) if doc else Counter()
        text = "  ".join(f"{c.name}: {counts[c.id]}" for c in self.session.classes()
                         if counts[c.id])
        if counts[None]:
            text += f"  (no class): {counts[None]}"
        self.counts.setText(text or "No instances")

    # ------------------------------------------------------------------ selection

    def _sync_selection(self) -> None:
        doc = self.document
        selection = QItemSelection()
        last = self.model.columnCount() - 1
        for inst_id in (doc.selected if doc else []):
            row = self.model.rows.get(inst_id)
            if row is not None:
                selection.select(self.model.index(row, 0), self.model.index(row, last))
        self._syncing = True
        self.table.selectionModel().select(
            selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        if doc is not None and doc.selected and doc.selected[0] in self.model.rows:
            self.table.scrollTo(self.model.index(self.model.rows[doc.selected[0]], 0))
        self._syncing = False

    def _table_selected(self, *_) -> None:
        if self._syncing or self.document is None:
            return
        rows = {i.row() for i in self.table.selectionModel().selectedRows()}
        self.document.set_selection([self.model.ids[r] for r in sorted(rows)])

    # ------------------------------------------------------------------ actions

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

    def _editable(self) -> list[int]:
        doc = self.document
        return [i for i in doc.selected if doc.editable(i)] if doc else []

    def toggle_hidden(self) -> None:
        self._toggle("hidden", "set_hidden")

    def toggle_locked(self) -> None:
        self._toggle("locked", "set_locked")

    def _toggle(self, flags: str, setter: str) -> None:
        """Set the flag on every selected instance, or clear it when all have it."""
        doc = self.document
        if doc and doc.selected:
            on = not all(i in getattr(doc, flags) for i in doc.selected)
            for inst_id in doc.selected:
                getattr(doc, setter)(inst_id, on)
