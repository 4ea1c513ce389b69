"""The image browser: every image with its status and instance count, a filter, and
next/previous (D / A, as in labelme)."""

from __future__ import annotations

from pathlib import PurePosixPath

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QComboBox, QLabel, QLineEdit, QListWidget, QListWidgetItem, QMenu,
                               QVBoxLayout, QWidget)

from isegui.core.entities import ImageRecord, ImageStatus, Split
from isegui.gui.commands.image_commands import SetSplitCommand
from isegui.ml.model.loaded_model import LoadedModel
from isegui.gui.workers.suggest_worker import SuggestWorker
from isegui.ml.runs import RunNotFound, checkpoint_file

# How an image's state is shown: its status, and "in progress" for an unlabeled image that has
# labels already (not trained on until its person marks it labeled). (mark, colour, words)
IN_PROGRESS = "in progress"
SHOWN_STATES = {ImageStatus.UNLABELED.value: ("○", "#9e9e9e", "unlabeled"),
                IN_PROGRESS: ("◔", "#ffa726", IN_PROGRESS),
                ImageStatus.LABELED.value: ("●", "#42a5f5", "labeled"),
                ImageStatus.REVIEWED.value: ("✔", "#66bb6a", "reviewed")}


def shown_state(status: ImageStatus, instance_count: int) -> str:
    """The key of SHOWN_STATES for an image of this status and number of instances."""
    if status == ImageStatus.UNLABELED and instance_count > 0:
        return IN_PROGRESS
    return ImageStatus(status).value


class ImagePanel(QWidget):
    def __init__(self, session, loaded_model: LoadedModel | None = None):
        super().__init__()
        self.session = session
        self.loaded_model = loaded_model or LoadedModel()
        # "worth labeling next": each unlabeled image's uncertainty under the active run
        self._uncertainty: dict[int, float] = {}
        self._asked: tuple | None = None  # the run and checkpoint the values are from
        self.suggester: SuggestWorker | None = None
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.hide()
        self.filter = QComboBox()
        # sized by a few characters, not by the longest class name (elided in the list)
        self.filter.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.filter.setMinimumContentsLength(12)
        self.filter.setToolTip("Which images to list")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter by name")
        self.list = QListWidget()
        self.list.setUniformItemSizes(True)
        # several at once (Shift/Ctrl+click) for "Move to train / val / test"
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.setToolTip("Right-click: move the selected images to train, val or test")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.filter)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        layout.addWidget(self.note)
        self._records: dict[int, ImageRecord] = {}
        self._counts: dict[int, int] = {}
        self._holders: dict[int, str] = {}  # images a team mate is labeling: who
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
        self.filter.addItem("Worth labeling next (the model's least sure)", ("suggest", None))
        for state in SHOWN_STATES:
            self.filter.addItem(f"Only {state}", ("state", state))
        for split in ("train", "val", "test"):
            self.filter.addItem(f"Split: {split}", ("split", split))
        for cls in self.session.classes():
            self.filter.addItem(f"With class: {cls.name}", ("class", cls.id))
        self.filter.setCurrentIndex(self.filter_index(current) or 0)
        self.filter.blockSignals(False)

    def filter_index(self, data) -> int | None:
        """The filter entry with this data. (QComboBox.findData misses Python tuples that
        hold an enum.)"""
        return next((k for k in range(self.filter.count())
                     if self.filter.itemData(k) == data), None)

    def reload(self) -> None:
        records = self.session.images()
        self._records = {r.id: r for r in records}
        self._counts = self.session.store.instance_counts()
        self._holders = {i: who for i, (who, _) in self.session.store.claims().items()
                         if who != self.session.store.user} if self.session.project.is_team \
            else {}
        kind, value = self.filter.currentData() or ("all", None)
        if kind == "state":
            records = [r for r in records
                       if shown_state(r.status, self._counts.get(r.id, 0)) == value]
        elif kind == "split":
            records = [r for r in records if r.split.value == value]
        elif kind == "class":
            having = self.session.store.images_with_class(value)
            records = [r for r in records if r.id in having]
        elif kind == "unlabeled-first":
            records = sorted(records, key=lambda r: r.status != ImageStatus.UNLABELED)
        elif kind == "suggest":
            records = [r for r in records if r.status == ImageStatus.UNLABELED]
            self._ask_model(records)
            records = sorted(records, key=lambda r: -self._uncertainty.get(r.id, -1.0))
        if kind != "suggest":
            self.note.hide()
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

    def selected_ids(self) -> list[int]:
        return [item.data(Qt.ItemDataRole.UserRole) for item in self.list.selectedItems()]

    def _menu(self, at) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        n = f"{len(ids)} image{'s' if len(ids) != 1 else ''}"
        for split in Split:
            action = menu.addAction(f"Move {n} to {split.value}")
            action.triggered.connect(lambda _=False, s=split: self.move_selected(s))
        menu.popup(self.list.viewport().mapToGlobal(at))

    def move_selected(self, split: Split) -> None:
        """The selected images into `split`: one step of the history."""
        ids = [i for i in self.selected_ids() if self._records[i].split != split]
        if ids:
            self.session.undo_stack.push(SetSplitCommand(self.session, ids, split))

    def _ask_model(self, unlabeled: list) -> None:
        """Start scoring the unlabeled images with the active run, once per run and
        checkpoint; the list is sorted again as values come in."""
        run_id = self.session.project.active_run_id
        try:
            checkpoint = checkpoint_file(self.session.project, self.session.store.run(run_id)) \
                if run_id is not None else None
        except RunNotFound:
            checkpoint = None
        if checkpoint is None:
            self.note.setText("Train a model first: it ranks the unlabeled images by how "
                              "unsure it is of them.")
            self.note.show()
            return
        asked = (run_id, str(checkpoint), checkpoint.stat().st_mtime_ns)
        missing = [r for r in unlabeled if r.id not in self._uncertainty]
        if asked != self._asked:
            self._uncertainty, missing = {}, unlabeled
        if not missing or self.suggester is not None:
            if not missing:
                self.note.setText(f"Least sure first, by run {run_id}: borderline scores and "
                                  "disagreement with its mirror image (0 sure - 2 unsure).")
                self.note.show()
            return
        self._asked = asked
        project = self.session.project
        self.suggester = SuggestWorker(checkpoint, [(r.id, project.image_path(r.path))
                                                    for r in missing], self.loaded_model)
        self.suggester.scored.connect(self._scored)
        self.suggester.progress.connect(lambda done, total: self.note.setText(
            f"Asking run {run_id} about the unlabeled images: {done} of {total}…"))
        self.suggester.failed.connect(lambda text: self.note.setText(text))
        self.suggester.finished.connect(self._suggest_done)
        self.note.setText(f"Asking run {run_id} about {len(missing)} unlabeled images…")
        self.note.show()
        self.suggester.start()

    def _scored(self, image_id: int, value: float) -> None:
        self._uncertainty[image_id] = value

    def _suggest_done(self) -> None:
        self.suggester = None
        if (self.filter.currentData() or ("all", None))[0] == "suggest":
            self.reload()

    def _describe(self, item: QListWidgetItem, record) -> None:
        count = self._counts.get(record.id, 0)
        name = PurePosixPath(record.path).name
        value = self._uncertainty.get(record.id)
        unsure = f"   unsure {value:.2f}" if value is not None and \
            record.status == ImageStatus.UNLABELED else ""
        holder = self._holders.get(record.id)
        held = f"   ✎ {holder}" if holder else ""
        mark, colour, words = SHOWN_STATES[shown_state(record.status, count)]
        item.setText(f"{mark} {name}   {count}   {record.split.value}{unsure}{held}")
        item.setForeground(QBrush(QColor(colour)))
        item.setToolTip(f"{record.path}\n{record.width} x {record.height} px, "
                        f"{words}, {count} instances, {record.split.value}")

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
                if row == self.list.currentRow():
                    return  # picked here: a Ctrl/Shift+click's selection stays
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
