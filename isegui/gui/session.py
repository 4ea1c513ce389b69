"""The project as the app holds it: the store, the classes, the one undo stack, and the
document of the image on screen."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from isegui.core.add_images import PlannedImage, write_images
from isegui.core.entities import (ImageRecord, ImageStatus, Instance, LabelClass, Prediction,
                                  Split)
from isegui.core.errors import IseguiError, StaleEdit
from isegui.core.labeling_log import LabelingEntry, append_entry
from isegui.core.project import Project
from isegui.core.store.engine import (PostgresConnectionLost, PostgresEngine,
                                      PostgresLockTimeout, PostgresPermissionDenied)
from isegui.core.store import WRITE_FAILURES, write_failure_in_words
from isegui.gui.document import ImageDocument
from isegui.ml.runs import settle_abandoned_runs

if TYPE_CHECKING:
    from isegui.core.store.team import ChangeFeed

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
    editConflict = Signal(str)  # an edit met someone else's newer change: refused (why)
    editedElsewhere = Signal(str)  # a team mate's change arrived (what, for the status bar)
    holderChanged = Signal()  # who else labels the image on screen changed (team projects)
    labelingLogged = Signal()  # an instance's clicks and seconds were written down

    def __init__(self, project: Project):
        super().__init__()
        self.project = project
        self.store = project.store
        self.undo_stack = QUndoStack(self)
        self.document: ImageDocument | None = None
        self._classes: list[LabelClass] = self.store.classes()
        self.active_class_id: int | None = self._classes[0].id if self._classes else None
        self.read_only_reason: str | None = None
        self.feed: ChangeFeed | None = None  # a team project's changes by others
        if project.is_team:
            self._follow_team()

    # ------------------------------------------------------------------ team mates

    FEED_EVERY_MS = 300  # how often other clients' changes are looked for (goal: < 2 s)
    # while the server is away, how long a step waits for it before it is "not saved": the
    # window must not freeze (command-line work and training wait the engine's 10 s)
    SERVER_PATIENCE_S = 1.5
    # how long a step waits for rows a team mate's open transaction holds before it is "not
    # saved" (the server's lock_timeout): the window never freezes longer
    LOCK_WAIT_MS = 1500

    def _follow_team(self) -> None:
        from isegui.core.store.team import ChangeFeed
        from isegui.core.store.team_rules import CLAIM_RENEW_S
        engine = self.store.engine
        if isinstance(engine, PostgresEngine):  # a team project's (ChangeFeed refuses others)
            engine.reconnect_for_s = self.SERVER_PATIENCE_S
            engine.set_lock_timeout(self.LOCK_WAIT_MS)
        self._renew_timer = QTimer(self)  # a claim not renewed runs out (a window killed)
        self._renew_timer.timeout.connect(self.renew_claim)
        self._renew_timer.start(CLAIM_RENEW_S * 1000)
        try:
            self.feed = ChangeFeed(self.store)
        except WRITE_FAILURES as exc:
            log.warning("not following the team's changes: %s", exc)
            return
        self._feed_timer = QTimer(self)
        self._feed_timer.timeout.connect(self.take_changes)
        self._feed_timer.start(self.FEED_EVERY_MS)

    def take_changes(self) -> None:
        """Bring in what team mates committed: the image on screen reloads (its undo history
        stays: a step on an instance they changed is refused when undone), the lists follow."""
        if self.feed is None:
            return
        from isegui.core.store.team import EVERYTHING
        was_lost = self.feed.lost
        try:
            changes = self.feed.poll()
            if self.feed.lost and not was_lost:
                self.editedElsewhere.emit(f"Lost the team's database ({self.feed.lost}); "
                                          "trying again…")
            if not changes:
                return
            if any(c.table == EVERYTHING for c in changes):  # back after the server was away
                self.classes_edited()
                self.imagesChanged.emit()
                if self.document is not None:
                    self.document.record = self.store.image(self.document.image_id)
                    self.document.reload(elsewhere=True)
                self.editedElsewhere.emit("Reconnected to the team's database; everything "
                                          "reloaded")
                return
            if any(c.table == "classes" for c in changes):
                self.classes_edited(instances_touched=True)
            images = {c.image_id for c in changes if c.image_id is not None}
            doc = self.document
            if doc is not None and doc.image_id in images:
                try:
                    doc.record = self.store.image(doc.image_id)
                except KeyError:  # a team mate removed it: the list follows, nothing to save
                    self.imagesChanged.emit()
                    by = ", ".join(sorted({c.by for c in changes}))
                    self.editedElsewhere.emit(f"The image on screen was removed by {by}")
                    return
                doc.reload(elsewhere=True)
                holder = self.store.claims().get(doc.image_id)
                holder = None if holder is None or holder[0] == self.store.user else holder
                if holder != doc.held_by:
                    doc.held_by = holder
                    self.holderChanged.emit()
            if any(c.table == "images" for c in changes):
                self.imagesChanged.emit()
            for image_id in images:
                self.imageEdited.emit(image_id)
        except WRITE_FAILURES as exc:
            log.warning("following the team's changes failed: %s", exc)
            self._feed_timer.stop()
            self.editedElsewhere.emit(f"Lost touch with the team's database: {exc}")
            return
        who = sorted({c.by for c in changes})
        self.editedElsewhere.emit(f"Changed by {', '.join(who)}")

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

    def edit_conflict(self, exc: StaleEdit, refused_shapes: list) -> None:
        """Another team member changed what an edit was about: nothing of it was written.
        The image is reloaded to their version; the refused shape goes to the clipboard."""
        message = f"Not saved: {exc} — reloaded."
        if refused_shapes:
            from isegui.gui.edit_actions import keep_on_clipboard
            keep_on_clipboard(self, refused_shapes)
            message += " Your version is on the clipboard (Ctrl+V pastes it as a new instance)."
        log.info("edit refused: %s", exc)
        try:
            if self.document is not None and self.document.image_id == exc.image_id:
                self.document.reload(elsewhere=True)
        except WRITE_FAILURES as again:
            self.write_failed(again)
            return
        self.image_edited(exc.image_id)
        self.editConflict.emit(message)

    def _write(self, write: Callable[[], object], asked: bool = True) -> bool:
        """Run a write that is not an undoable edit (commands have their own guard): False,
        and the window read-only, when the project cannot take it. `asked`: the user asked
        for it, so a refusal while read-only is said."""
        if self.read_only:
            if asked:
                self.refuse_edit()
            return False
        try:
            write()
        except PostgresPermissionDenied as exc:  # the team's roles say no to this one write
            self.editConflict.emit(f"Not allowed: {exc}")
            return False
        except PostgresConnectionLost as exc:  # only this write is lost; the next reconnects
            self.editConflict.emit(f"Not saved: {exc}; try again")
            return False
        except PostgresLockTimeout as exc:  # a team mate's open change held the rows
            self.editConflict.emit(f"Not saved: {write_failure_in_words(exc)}")
            return False
        except WRITE_FAILURES as exc:
            self.write_failed(exc)
            return False
        return True

    def settle_abandoned_runs(self) -> None:
        """Runs left "running" by a training process that died are marked failed."""
        self._write(lambda: settle_abandoned_runs(self.project), asked=False)

    def set_active_run(self, run_id: int) -> bool:
        """The run Review predicts with; False when the project cannot be written."""
        return self._write(lambda: self.project.set_active_run(run_id))

    def refuse_edit(self) -> None:
        self.editRefused.emit(self.read_only_reason or "")

    def log_labeling(self, entry: LabelingEntry) -> None:
        """The clicks and seconds an added instance took (core.labeling_log); a log that
        cannot be written is logged, never in the way of labeling."""
        try:
            append_entry(self.project.folder, entry)
        except (OSError, IseguiError) as exc:
            log.warning("labeling log not written: %s", exc)
            return
        self.labelingLogged.emit()

    def close(self) -> None:
        self.aboutToClose.emit()
        if self.project.is_team and self.document is not None and not self.read_only:
            image_id = self.document.image_id
            self._write(lambda: self.store.release_image(image_id), asked=False)
        if self.feed is not None:
            self._feed_timer.stop()
            self.feed.close()
        self.project.close()

    # ------------------------------------------------------------------ images

    def images(self) -> list[ImageRecord]:
        return self.store.images()

    def open_image(self, image_id: int) -> ImageDocument:
        previous = self.document
        self.document = ImageDocument(self, self.store.image(image_id))
        if self.project.is_team:
            self._claim(image_id, previous.image_id if previous is not None else None)
        self._write(lambda: self.store.set_meta(LAST_IMAGE_KEY, str(image_id)), asked=False)
        self.documentChanged.emit()
        return self.document

    # ------------------------------------------------------------------ claims (teams)

    def _claim(self, image_id: int, previous: int | None) -> None:
        """In a team project the image on screen is this user's to label; one that a team
        mate holds is shown but not edited until taken over."""
        def claim() -> None:
            if previous is not None and previous != image_id:
                self.store.release_image(previous)
            assert self.document is not None
            self.document.held_by = self.store.claim_image(image_id)
        self._write(claim, asked=False)

    def renew_claim(self) -> None:
        """Tell the server this window still labels the image on screen; once a team mate
        took it over, show that instead."""
        doc = self.document
        if doc is None or doc.held_by is not None or self.read_only:
            return
        try:
            holder = self.store.claim_image(doc.image_id)
        except (KeyError, *WRITE_FAILURES) as exc:  # gone, or the server away: next time
            log.warning("could not renew the claim of image %s: %s", doc.image_id, exc)
            return
        if holder is not None:
            doc.held_by = holder
            self.holderChanged.emit()

    def take_over(self) -> bool:
        """Label the image on screen although a team mate holds it (they are told when they
        next edit it)."""
        doc = self.document
        if doc is None or doc.held_by is None:
            return False
        def take() -> None:
            self.store.claim_image(doc.image_id, take_over=True)
            doc.held_by = None
        if self._write(take):
            self.imageEdited.emit(doc.image_id)
            self.holderChanged.emit()
            return True
        return False

    def held_elsewhere(self) -> tuple[str, str] | None:
        """Who else labels the image on screen (and since when), when someone does."""
        doc = self.document
        if doc is None or not self.project.is_team:
            return None
        if doc.held_by is None:  # a team mate may have taken it over meanwhile
            try:
                holder = self.store.claims().get(doc.image_id)
            except WRITE_FAILURES:
                return None
            if holder is not None and holder[0] != self.store.user:
                doc.held_by = holder
        return doc.held_by

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

    def add_images(self, plans: list[PlannedImage], split: Split,
                   val_every: int = 0) -> list[ImageRecord]:
        """Record checked (and already copied) images, unlabeled, in one transaction (one in
        `val_every` into val)."""
        records = write_images(self.store, plans, split, val_every)
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
        def write() -> None:
            with self.store.transaction():
                ids = self.store.ensure_classes(sorted({name for name, _, _ in found}))
                self.store.add_predictions(image_id, run_id,
                                           [(ids[name], shape, score)
                                            for name, shape, score in found
                                            if not shape.is_empty])
        if not self._write(write, asked=False):
            return False
        self.predictions_edited(image_id)
        return True

    def take_predictions(self, image_id: int, prediction_ids: list[int]) -> list[Prediction]:
        """Predictions leave the image's list (accepted or rejected); returned to put back."""
        taken = self.store.take_predictions(prediction_ids)
        self.predictions_edited(image_id)
        return taken

    def restore_predictions(self, image_id: int, predictions: list[Prediction]) -> None:
        self.store.restore_predictions(predictions)
        self.predictions_edited(image_id)

    def set_track(self, image_id: int, instance_id: int, track_id: int | None) -> None:
        """The track id of an instance of an image not on screen (on screen: the document)."""
        self.store.update_instance(image_id, instance_id, track_id=track_id)
        self.image_edited(image_id)

    def predictions_edited(self, image_id: int) -> None:
        self.predictionsChanged.emit(image_id)

    def set_status(self, image_id: int, status: ImageStatus) -> None:
        self.store.set_status(image_id, status)
        if self.document and self.document.image_id == image_id:
            self.document.record = self.store.image(image_id)
        self.imageEdited.emit(image_id)

    def set_splits(self, splits: dict[int, Split]) -> None:
        """Each image (id) into its split, in one transaction."""
        with self.store.transaction():
            for split in set(splits.values()):
                self.store.set_split([i for i, s in splits.items() if s == split], split)
        if self.document and self.document.image_id in splits:
            self.document.record = self.store.image(self.document.image_id)
        self.imagesChanged.emit()

    # ------------------------------------------------------------------ classes

    def classes(self) -> list[LabelClass]:
        return list(self._classes)

    def class_by_id(self, class_id: int | None) -> LabelClass | None:
        return next((c for c in self._classes if c.id == class_id), None)

    def set_active_class(self, class_id: int | None) -> None:
        if class_id != self.active_class_id:
            self.active_class_id = class_id
            self.activeClassChanged.emit()

    # the project's classes, written here and announced (commands call these)

    def add_class(self, name: str, color: str | None = None) -> LabelClass:
        cls = self.store.add_class(name, color)
        self.classes_edited()
        return cls

    def restore_class(self, cls: LabelClass, position: int) -> None:
        """A class deleted earlier, back with its id at its place in the list."""
        self.store.restore_class(cls, position)
        self.classes_edited()

    def set_class_field(self, class_id: int, field: str, value: str) -> None:
        """The class's "name" or "color"."""
        (self.store.rename_class if field == "name" else self.store.recolor_class)(class_id,
                                                                                  value)
        self.classes_edited()

    def merge_classes(self, source_id: int, target_id: int) -> list[tuple[int, int]]:
        """Every instance of `source` becomes `target` and `source` goes; the instances moved
        ((image id, instance id)), to move them back."""
        with self.store.transaction():
            moved = [(i.image_id, i.id) for i in self.store.instances_of_class(source_id)]
            self.store.merge_classes(source_id, target_id)
        self.classes_edited(instances_touched=True)
        return moved

    def unmerge_classes(self, source: LabelClass, position: int,
                        moved: list[tuple[int, int]]) -> None:
        with self.store.transaction():
            self.store.restore_class(source, position)
            self.store.set_instance_classes(moved, source.id)
        self.classes_edited(instances_touched=True)

    def delete_class(self, class_id: int, delete_instances: bool) -> list[Instance]:
        """The class goes; its instances too, or they stay without a class. Returns them as
        they were, to put back."""
        with self.store.transaction():
            members = self.store.instances_of_class(class_id)
            self.store.delete_class(class_id, delete_instances=delete_instances)
        self._class_members_edited(members)
        return members

    def undelete_class(self, cls: LabelClass, position: int, members: list[Instance],
                       instances_deleted: bool) -> None:
        with self.store.transaction():
            self.store.restore_class(cls, position)
            if instances_deleted:
                self.store.restore_instances(members)
            else:
                self.store.set_instance_classes([(i.image_id, i.id) for i in members], cls.id)
        self._class_members_edited(members)

    def _class_members_edited(self, members: list[Instance]) -> None:
        self.classes_edited(instances_touched=True)
        for image_id in {i.image_id for i in members}:
            self.image_edited(image_id)

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
