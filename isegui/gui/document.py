"""The open image: its instances, kept in step with the store, and the signals every view of
it listens to. Commands are its only writers; views only read and listen."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from isegui.core.entities import ImageRecord, Instance, Source
from isegui.core.errors import ImageReadError
from isegui.core.geometry import Shape
from isegui.core.images import load_image


class ImageDocument(QObject):
    instanceAdded = Signal(int)
    instanceChanged = Signal(int)
    instanceRemoved = Signal(int)
    selectionChanged = Signal()
    viewStateChanged = Signal(int)  # an instance was hidden, shown, locked or unlocked

    def __init__(self, session, record: ImageRecord):
        super().__init__()
        self.session = session
        self.record = record
        self._instances: dict[int, Instance] = {
            i.id: i for i in session.store.instances(record.id)}
        self.selected: list[int] = []
        self.hidden: set[int] = set()
        self.locked: set[int] = set()
        self._pixels: np.ndarray | None = None
        self.load_error: str | None = None
        # how many times someone else changed each instance while it was on screen: an
        # undo or redo of an edit made before such a change is refused (team projects)
        self.changed_elsewhere: dict[int, int] = {}
        self.held_by: tuple[str, str] | None = None  # a team mate labeling it: (who, since)

    @property
    def image_id(self) -> int:
        return self.record.id

    # ------------------------------------------------------------------ reading

    def instances(self) -> list[Instance]:
        """Bottom to top."""
        return sorted(self._instances.values(), key=lambda i: (i.z, i.id))

    def instance(self, instance_id: int) -> Instance:
        return self._instances[instance_id]

    def __contains__(self, instance_id: int) -> bool:
        return instance_id in self._instances

    def top_z(self) -> int:
        return max((i.z for i in self._instances.values()), default=-1)

    def pixels(self) -> np.ndarray | None:
        """The image's pixels (full depth), or None with `load_error` saying why."""
        if self._pixels is None and self.load_error is None:
            try:
                self._pixels = load_image(self.session.project.image_path(self.record.path))
            except ImageReadError as exc:
                self.load_error = str(exc)
        return self._pixels

    def editable(self, instance_id: int) -> bool:
        return instance_id in self._instances and instance_id not in self.locked

    # ------------------------------------------------------------------ writing (commands)

    def create(self, class_id: int | None, shape: Shape, *, z: int | None = None,
               track_id: int | None = None, source: Source = Source.MANUAL,
               crowd: bool = False) -> Instance:
        inst = self.session.store.add_instance(self.image_id, class_id, shape, z=z,
                                               track_id=track_id, source=source, crowd=crowd)
        self._instances[inst.id] = inst
        self.instanceAdded.emit(inst.id)
        self.session.image_edited(self.image_id)
        return inst

    def restore(self, instances: list[Instance]) -> None:
        self.session.store.restore_instances(instances)
        for inst in instances:
            self._instances[inst.id] = inst
            self.instanceAdded.emit(inst.id)
        self.session.image_edited(self.image_id)

    def update(self, instance_id: int, **changes) -> Instance:
        """Write changes to an instance as it is on screen: if someone else has changed it
        in the store since, the store refuses (StaleEdit) and nothing is written."""
        inst = self.session.store.update_instance(
            self.image_id, instance_id, expected_version=self._instances[instance_id].version,
            **changes)
        self._instances[instance_id] = inst
        self.instanceChanged.emit(instance_id)
        self.session.image_edited(self.image_id)  # a class change moves the class counts
        return inst

    def remove(self, instance_ids: list[int]) -> list[Instance]:
        gone = self.session.store.delete_instances(
            self.image_id, instance_ids,
            expected_versions={i: self._instances[i].version for i in instance_ids
                               if i in self._instances})
        for inst in gone:
            del self._instances[inst.id]
            self.hidden.discard(inst.id)
            self.locked.discard(inst.id)
            self.instanceRemoved.emit(inst.id)
        if any(i in self.selected for i in instance_ids):
            self.set_selection([i for i in self.selected if i not in instance_ids])
        self.session.image_edited(self.image_id)
        return gone

    def reload(self, elsewhere: bool = False) -> list[int]:
        """Take the store's state again (after edits that bypassed this document, or, with
        `elsewhere`, another team member's). Returns the ids that changed."""
        fresh = {i.id: i for i in self.session.store.instances(self.image_id)}
        changed = []
        for gone in set(self._instances) - set(fresh):
            del self._instances[gone]
            self.selected = [i for i in self.selected if i != gone]
            changed.append(gone)
            self.instanceRemoved.emit(gone)
        for inst_id, inst in fresh.items():
            known = self._instances.get(inst_id)
            self._instances[inst_id] = inst
            if known is not None and known.version == inst.version and not elsewhere:
                self.instanceChanged.emit(inst_id)
                continue
            if known is None or known.version != inst.version:
                changed.append(inst_id)
            (self.instanceChanged if known is not None else self.instanceAdded).emit(inst_id)
        if elsewhere:
            for inst_id in changed:
                self.changed_elsewhere[inst_id] = self.changed_elsewhere.get(inst_id, 0) + 1
        return changed

    # ------------------------------------------------------------------ view state

    def set_selection(self, instance_ids) -> None:
        ids = [i for i in dict.fromkeys(instance_ids) if i in self._instances]
        if ids != self.selected:
            self.selected = ids
            self.selectionChanged.emit()

    def set_hidden(self, instance_id: int, hidden: bool) -> None:
        (self.hidden.add if hidden else self.hidden.discard)(instance_id)
        self.viewStateChanged.emit(instance_id)

    def set_locked(self, instance_id: int, locked: bool) -> None:
        (self.locked.add if locked else self.locked.discard)(instance_id)
        self.viewStateChanged.emit(instance_id)
