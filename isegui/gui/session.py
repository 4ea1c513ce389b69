"""The project as the app holds it: the store, the classes, the one undo stack, and the
document of the image on screen."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from isegui.core.add_images import PlannedImage, write_images
from isegui.core.entities import ImageRecord, ImageStatus, LabelClass, Split
from isegui.core.project import Project
from isegui.core.store import write_failure_in_words
from isegui.gui.commands.base import WRITE_FAILURES
from isegui.gui.document import ImageDocument
from isegui.ml.runs import settle_abandoned_runs

LAST_IMAGE_KEY = "last_image_id"
log = logging.getLogger(__name__)


class ProjectSession(QObject):
    classesChanged = Signal()
    imagesChanged = Signal()  # images added, removed, re-split
    imageEdited = Signal(int)  # an image's instances or status changed
    documentChanged = Signal()  # another image is on screen
    activeClassChanged = Signal()
    predictionsChanged = Signal(int)  # an image's stored predictions changed
    calibrationChanged = Signal()
    aboutToClose = Signal()  # timers and workers stop: the store goes away
    writeFailed = Signal(str)  # a write failed: the window is read-only from now on (why)
    editRefused = Signal(str)  # an edit tried while read-only

    def __init__(self, project: Project):
        super().__init__()
        self.project = project
        self.store = project.store
        self.undo_stack = QUndoStack(self)
        self.document: ImageDocument | None = None
        self._classes: list[LabelClass] = self.store.classes()
        self.active_class_id: int | None = self._classes[0].id if self._classes else None
        self.read_only_reason: str | None = None

    @property
    def read_only(self) -> bool:
        return self.read_only_reason is not None

    def write_failed(self, exc: BaseException) -> None:
        """A store write failed and was rolled back: show what the store holds and edit no
        more, so nothing is half written and no step claims what was not saved."""
        first = not self.read_only
        self.read_only_reason = (f"Saving failed: {write_failure_in_words(exc)}. Nothing of "
                                 "that step was kept; the project is read-only until it is "
                                 "opened again.")
        log.error("write failed, read-only from now on: %s", exc)
        try:  # show what was saved (the edit's own signals showed it done)
            self._classes = self.store.classes()
            self.classesChanged.emit()
            if self.document is not None:
                self.document.reload()
        except WRITE_FAILURES as again:
            log.error("reloading after the failed write failed too: %s", again)
        if first:
            self.writeFailed.emit(self.read_only_reason)

    def settle_abandoned_runs(self) -> None:
        """Runs left "running" by a training process that died are marked failed."""
        if self.read_only:
            return
        try:
            settle_abandoned_runs(self.project)
        except WRITE_FAILURES as exc:
            self.write_failed(exc)

    def refuse_edit(self) -> None:
        self.editRefused.emit(self.read_only_reason or "")

    def close(self) -> None:
        self.aboutToClose.emit()
        self.project.close()

    # ------------------------------------------------------------------ images

    def images(self) -> list[ImageRecord]:
        return self.store.images()

    def open_image(self, image_id: int) -> ImageDocument:
        self.document = ImageDocument(self, self.store.image(image_id))
        if not self.read_only:
            try:
                self.store.set_meta(LAST_IMAGE_KEY, str(image_id))  # a convenience: may fail
            except WRITE_FAILURES as exc:
                self.write_failed(exc)
        self.documentChanged.emit()
        return self.document

    def document_for(self, image_id: int) -> ImageDocument:
        """The document of `image_id`, brought on screen if another image is: undoing an edit
        shows where it happened."""
        if self.document is None or self.document.image_id != image_id:
            return self.open_image(image_id)
        return self.document

    def last_image_id(self) -> int | None:
        value = self.store.meta(LAST_IMAGE_KEY)
        if value is None:
            return None
        try:
            self.store.image(int(value))
        except KeyError:
            return None
        return int(value)

    def add_images(self, plans: list[PlannedImage], split: Split) -> list[ImageRecord]:
        """Record checked (and already copied) images, unlabeled, in one transaction."""
        records = write_images(self.store, plans, split)
        self._images_added(records)
        return records

    def restore_images(self, records: list[ImageRecord]) -> None:
        self.store.restore_images(records)
        self._images_added(records)

    def remove_images(self, image_ids: list[int]) -> None:
        """Forget images (their files stay); the image on screen goes if it was one."""
        gone = set(image_ids)
        with self.store.transaction():
            for image_id in gone:
                self.store.remove_image(image_id)
        if self.document is not None and self.document.image_id in gone:
            remaining = self.store.images()
            if remaining:
                self.open_image(remaining[0].id)
            else:
                self.document = None
                self.documentChanged.emit()
        self.imagesChanged.emit()

    def _images_added(self, records: list[ImageRecord]) -> None:
        self.imagesChanged.emit()
        if self.document is None and records:  # a project that had none: show the first
            self.open_image(min(records, key=lambda r: r.path).id)

    def image_edited(self, image_id: int) -> None:
        self.imageEdited.emit(image_id)

    def set_calibration(self, mm_per_px: float | None) -> None:
        self.project.set_calibration(mm_per_px)
        self.calibrationChanged.emit()

    def store_predictions(self, run_id: int, image_id: int, found: list) -> bool:
        """A run's predictions of an image ((class name, shape, score)), classes added as
        needed, in one transaction; False when the project cannot be written."""
        if self.read_only:
            return False
        try:
            with self.store.transaction():
                ids = self.store.ensure_classes(sorted({name for name, _, _ in found}))
                self.store.add_predictions(image_id, run_id,
                                           [(ids[name], shape, score)
                                            for name, shape, score in found
                                            if not shape.is_empty])
        except WRITE_FAILURES as exc:
            self.write_failed(exc)
            return False
        self.predictions_edited(image_id)
        return True

    def predictions_edited(self, image_id: int) -> None:
        self.predictionsChanged.emit(image_id)

    def set_status(self, image_id: int, status: ImageStatus) -> None:
        self.store.set_status(image_id, status)
        if self.document and self.document.image_id == image_id:
            self.document.record = self.store.image(image_id)
        self.imageEdited.emit(image_id)

    # ------------------------------------------------------------------ classes

    def classes(self) -> list[LabelClass]:
        return list(self._classes)

    def class_by_id(self, class_id: int | None) -> LabelClass | None:
        return next((c for c in self._classes if c.id == class_id), None)

    def set_active_class(self, class_id: int | None) -> None:
        if class_id != self.active_class_id:
            self.active_class_id = class_id
            self.activeClassChanged.emit()

    def classes_edited(self, instances_touched: bool = False) -> None:
        """After a class command: refresh the list, and the document when instances moved."""
        self._classes = self.store.classes()
        if self.active_class_id not in {c.id for c in self._classes}:
            self.active_class_id = self._classes[0].id if self._classes else None
            self.activeClassChanged.emit()
        self.classesChanged.emit()
        if instances_touched and self.document is not None:
            self.document.reload()
            self.imageEdited.emit(self.document.image_id)
