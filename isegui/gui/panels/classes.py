"""The class panel: add, rename, recolour, merge, delete; click (or press 1-9) to pick the
class new instances get."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QColorDialog, QHBoxLayout, QInputDialog, QListWidget,
                               QListWidgetItem, QMessageBox, QPushButton, QVBoxLayout, QWidget)

from isegui.gui.commands.class_commands import (AddClassCommand, DeleteClassCommand,
                                                MergeClassesCommand, RecolorClassCommand,
                                                RenameClassCommand)


def swatch(color: str, size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


class ClassPanel(QWidget):
    def __init__(self, session):
        super().__init__()
        self.session = session
        self.list = QListWidget()
        # a long class name (100 characters, from a team mate or an import) is elided, never
        # widening the dock and with it the window
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setSizeAdjustPolicy(QListWidget.SizeAdjustPolicy.AdjustIgnored)
        self.list.setToolTip("The active class (new instances get it). Keys 1-9 pick one.")
        buttons = QHBoxLayout()
        self.buttons = {}
        # lambdas: clicked(bool) would pass its False into the slots' optional arguments
        # (a class deleted without asking, a merge into class "False")
        for key, label, tip, slot in (
                ("add", "Add", "Add a class", lambda: self.add()),
                ("rename", "Rename", "Rename the class", lambda: self.rename()),
                ("color", "Colour", "Change its colour", lambda: self.recolor()),
                ("merge", "Merge", "Move its instances to another class and remove it",
                 lambda: self.merge()),
                ("delete", "Delete", "Delete the class (asks what becomes of its instances)",
                 lambda: self.delete())):
            button = QPushButton(label)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            buttons.addWidget(button)
            self.buttons[key] = button
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        self.list.currentItemChanged.connect(self._picked)
        self.list.itemDoubleClicked.connect(lambda _: self.rename())
        session.classesChanged.connect(self.reload)
        session.activeClassChanged.connect(self.reload)
        session.imageEdited.connect(lambda _: self.reload())
        self.reload()

    def reload(self) -> None:
        counts = self.session.store.class_counts()
        self.list.blockSignals(True)
        self.list.clear()
        for n, cls in enumerate(self.session.classes(), start=1):
            key = f"{n}  " if n <= 9 else "   "
            count = counts.get(cls.id, 0)
            item = QListWidgetItem(swatch(cls.color), f"{key}{cls.name}   ({count})")
            item.setData(Qt.ItemDataRole.UserRole, cls.id)
            item.setToolTip(cls.name)
            self.list.addItem(item)
            if cls.id == self.session.active_class_id:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def _picked(self, item, _previous) -> None:
        if item is not None:
            self.session.set_active_class(item.data(Qt.ItemDataRole.UserRole))

    def _current(self):
        return self.session.class_by_id(self.session.active_class_id)

    def pick_number(self, n: int) -> None:
        classes = self.session.classes()
        if 1 <= n <= len(classes):
            self.session.set_active_class(classes[n - 1].id)

    def add(self, name: str | None = None) -> None:
        if not name:
            name, ok = QInputDialog.getText(self, "Add class", "Name of the new class:")
            if not ok:
                return
        name = name.strip()
        if not name:
            return
        if any(c.name == name for c in self.session.classes()):
            QMessageBox.information(self, "Add class", f"There is already a class {name!r}.")
            return
        command = AddClassCommand(self.session, name)
        self.session.undo_stack.push(command)
        assert command.cls is not None  # the push's redo made it
        self.session.set_active_class(command.cls.id)

    def rename(self, name: str | None = None) -> None:
        cls = self._current()
        if cls is None:
            return
        if not name:
            name, ok = QInputDialog.getText(self, "Rename class", f"New name for {cls.name}:",
                                            text=cls.name)
            if not ok:
                return
        name = name.strip()
        if not name or name == cls.name:
            return
        if any(c.name == name for c in self.session.classes()):
            QMessageBox.information(self, "Rename class", f"There is already a class {name!r}; "
                                    "use Merge to put the two together.")
            return
        self.session.undo_stack.push(RenameClassCommand(self.session, cls.id, name))

    def recolor(self, color: str | None = None) -> None:
        cls = self._current()
        if cls is None:
            return
        if not color:
            chosen = QColorDialog.getColor(QColor(cls.color), self, f"Colour of {cls.name}")
            if not chosen.isValid():
                return
            color = chosen.name()
        self.session.undo_stack.push(RecolorClassCommand(self.session, cls.id, color))

    def merge(self, target_id: int | None = None) -> None:
        cls = self._current()
        others = [c for c in self.session.classes() if cls and c.id != cls.id]
        if cls is None or not others:
            return
        if target_id is None:
            names = [c.name for c in others]
            name, ok = QInputDialog.getItem(self, "Merge class", f"Merge {cls.name} into:",
                                            names, 0, False)
            if not ok:
                return
            target_id = others[names.index(name)].id
        self.session.undo_stack.push(MergeClassesCommand(self.session, cls.id, target_id))

    def delete(self, delete_instances: bool | None = None) -> None:
        cls = self._current()
        if cls is None:
            return
        members = self.session.store.instances_of_class(cls.id)  # regions to ignore too
        count = len(members)
        if delete_instances is None and count:
            images = len({m.image_id for m in members})
            box = QMessageBox(self)
            box.setIcon(QMessageBox.Icon.Question)
            box.setWindowTitle("Delete class")
            box.setText(f"Class {cls.name} has {_count(count, 'instance')} in "
                        f"{_count(images, 'image')}.")
            box.setInformativeText("Keep them without a class (Validate lists them), or delete "
                                   "them too? Either can be undone.")
            keep = box.addButton("Keep them, without a class", QMessageBox.ButtonRole.AcceptRole)
            drop = box.addButton(f"Delete the {_count(count, 'instance')}",
                                 QMessageBox.ButtonRole.DestructiveRole)
            box.setDefaultButton(box.addButton(QMessageBox.StandardButton.Cancel))
            box.exec()
            if box.clickedButton() not in (keep, drop):
                return
            delete_instances = box.clickedButton() is drop
        self.session.undo_stack.push(DeleteClassCommand(self.session, cls.id,
                                                        bool(delete_instances)))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
