"""Undoable edits of instances. Each stores old and new values (not snapshots of the image)
and calls the document's API; redo after undo restores the very same instance id."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QUndoCommand

from isegui.core.entities import Instance, Source
from isegui.core.geometry import Shape
from isegui.gui.commands.base import StoreCommand

# QUndoCommand ids: commands of one id may merge (mergeWith)
EDIT_SHAPE_ID = 1


class AddInstanceCommand(StoreCommand):
    def __init__(self, session, image_id: int, class_id: int | None, shape: Shape, *,
                 z: int | None = None, track_id: int | None = None,
                 source: Source = Source.MANUAL, crowd: bool = False, text: str = ""):
        super().__init__(text or "Add instance")
        self.session, self.image_id = session, image_id
        self.args: dict[str, Any] = dict(class_id=class_id, shape=shape, z=z, track_id=track_id,
                                         source=source, crowd=crowd)
        self.instance: Instance | None = None
        self.seen: dict[int, int] = {}

    def refused_shapes(self) -> list:
        return [self.args["shape"]]

    def redo(self) -> None:
        doc = self.session.document_for(self.image_id)
        if self.instance is None:
            args = dict(self.args)
            self.instance = doc.create(args.pop("class_id"), args.pop("shape"), **args)
            self.setText(f"{self.text()} {self.instance.id}")
        else:
            doc.restore([self.instance])
        self.seen = {self.instance.id: doc.changed_elsewhere.get(self.instance.id, 0)}
        doc.set_selection([self.instance.id])

    def undo(self) -> None:
        assert self.instance is not None  # undo follows a redo
        self.check_not_changed_elsewhere(self.image_id, [self.instance.id], self.seen)
        self.session.document_for(self.image_id).remove([self.instance.id])


class DeleteInstancesCommand(StoreCommand):
    def __init__(self, session, image_id: int, instance_ids: list[int], text: str = ""):
        super().__init__(text or f"Delete {_ids(instance_ids)}")
        self.session, self.image_id, self.ids = session, image_id, list(instance_ids)
        self.removed: list[Instance] = []

    def redo(self) -> None:
        doc = self.session.document_for(self.image_id)
        self.removed = doc.remove(self.ids)

    def undo(self) -> None:
        doc = self.session.document_for(self.image_id)
        doc.restore(self.removed)
        doc.set_selection(self.ids)


class UpdateInstanceCommand(StoreCommand):
    """Changes some fields of one instance (shape, class, z, track id). Consecutive shape edits
    of one instance with the same `merge_key` (one drag, a run of nudges) are one step."""

    def __init__(self, session, image_id: int, instance_id: int, text: str = "",
                 merge_key=None, **changes):
        super().__init__(text or f"Edit {instance_id}")
        self.session, self.image_id, self.instance_id = session, image_id, instance_id
        doc = session.document_for(image_id)
        current = doc.instance(instance_id)
        self.old = {k: getattr(current, k) for k in changes}
        self.new = dict(changes)
        self.merge_key = merge_key
        self.seen: dict[int, int] | None = None  # set by the first redo

    def refused_shapes(self) -> list:
        return [self.new["shape"]] if "shape" in self.new else []

    def id(self) -> int:
        return EDIT_SHAPE_ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (isinstance(other, UpdateInstanceCommand) and not other.isObsolete()
                and other.merge_key is not None
                and other.merge_key == self.merge_key
                and (other.image_id, other.instance_id) == (self.image_id, self.instance_id)
                and set(other.new) == set(self.new)):
            return False
        self.new = dict(other.new)
        return True

    def redo(self) -> None:
        doc = self.session.document_for(self.image_id)
        if self.seen is None:
            self.seen = {self.instance_id: doc.changed_elsewhere.get(self.instance_id, 0)}
        else:
            self.check_not_changed_elsewhere(self.image_id, [self.instance_id], self.seen)
        doc.update(self.instance_id, **self.new)

    def undo(self) -> None:
        self.check_not_changed_elsewhere(self.image_id, [self.instance_id], self.seen or {})
        doc = self.session.document_for(self.image_id)
        doc.update(self.instance_id, **self.old)
        doc.set_selection([self.instance_id])


def _ids(ids: list[int]) -> str:
    return f"instance {ids[0]}" if len(ids) == 1 else f"{len(ids)} instances"


class SetImageStatusCommand(StoreCommand):
    """Mark an image unlabeled, labeled or reviewed."""

    def __init__(self, session, image_id: int, status):
        old = session.store.image(image_id).status
        super().__init__(f"Mark {status.value}")
        self.session, self.image_id, self.old, self.new = session, image_id, old, status

    def redo(self) -> None:
        self.session.document_for(self.image_id)
        self.session.set_status(self.image_id, self.new)

    def undo(self) -> None:
        self.session.document_for(self.image_id)
        self.session.set_status(self.image_id, self.old)


class SetCalibrationCommand(StoreCommand):
    """Millimetres per pixel for the project (None: not calibrated)."""

    def __init__(self, session, mm_per_px: float | None):
        super().__init__("Calibrate" if mm_per_px else "Remove the calibration")
        self.session, self.old, self.new = session, session.project.mm_per_px, mm_per_px

    def redo(self) -> None:
        self.session.set_calibration(self.new)

    def undo(self) -> None:
        self.session.set_calibration(self.old)
