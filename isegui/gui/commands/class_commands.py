"""Undoable edits of the project's classes. Classes span every image, so these go through the
session's class methods (which write, and refresh the document on screen)."""

from __future__ import annotations


from isegui.core.entities import Instance, LabelClass
from isegui.gui.commands.base import StoreCommand


class AddClassCommand(StoreCommand):
    def __init__(self, session, name: str, color: str | None = None):
        super().__init__(f"Add class {name}")
        self.session, self.name, self.color = session, name, color
        self.cls: LabelClass | None = None
        self.position = 0

    def redo(self) -> None:
        if self.cls is None:
            self.cls = self.session.add_class(self.name, self.color)
            self.position = self.session.store.class_position(self.cls.id)
        else:
            self.session.restore_class(self.cls, self.position)

    def undo(self) -> None:
        assert self.cls is not None  # undo follows a redo
        self.session.delete_class(self.cls.id, delete_instances=False)  # a new class: none


class _ClassFieldCommand(StoreCommand):
    """One field of one class (its name or its colour), old and new value kept."""
    field = ""

    def __init__(self, session, class_id: int, value: str, text: str):
        super().__init__(text)
        self.session, self.class_id = session, class_id
        self.old, self.new = getattr(session.class_by_id(class_id), self.field), value

    def _set(self, value: str) -> None:
        self.session.set_class_field(self.class_id, self.field, value)

    def redo(self) -> None:
        self._set(self.new)

    def undo(self) -> None:
        self._set(self.old)


class RenameClassCommand(_ClassFieldCommand):
    field = "name"

    def __init__(self, session, class_id: int, name: str):
        old = session.class_by_id(class_id).name
        super().__init__(session, class_id, name, f"Rename class {old} to {name}")


class RecolorClassCommand(_ClassFieldCommand):
    field = "color"

    def __init__(self, session, class_id: int, color: str):
        name = session.class_by_id(class_id).name
        super().__init__(session, class_id, color, f"Recolour class {name}")


class MergeClassesCommand(StoreCommand):
    """Every instance of `source` becomes `target`; `source` goes."""

    def __init__(self, session, source_id: int, target_id: int):
        src, dst = session.class_by_id(source_id), session.class_by_id(target_id)
        super().__init__(f"Merge class {src.name} into {dst.name}")
        self.session, self.source, self.target_id = session, src, target_id
        self.position = session.store.class_position(source_id)
        self.moved: list[tuple[int, int]] = []

    def redo(self) -> None:
        self.moved = self.session.merge_classes(self.source.id, self.target_id)

    def undo(self) -> None:
        self.session.unmerge_classes(self.source, self.position, self.moved)


class DeleteClassCommand(StoreCommand):
    """Deletes a class; its instances are deleted too, or kept without a class."""

    def __init__(self, session, class_id: int, delete_instances: bool):
        cls = session.class_by_id(class_id)
        super().__init__(f"Delete class {cls.name}")
        self.session, self.cls, self.delete_instances = session, cls, delete_instances
        self.position = session.store.class_position(class_id)
        self.members: list[Instance] = []

    def redo(self) -> None:
        self.members = self.session.delete_class(self.cls.id, self.delete_instances)

    def undo(self) -> None:
        self.session.undelete_class(self.cls, self.position, self.members,
                                    self.delete_instances)
