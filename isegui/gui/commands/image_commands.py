"""Undoable changes to which images the project holds. The files were checked (and copied)
before the command is made; undo forgets the records and leaves the files, so redo can bring
the same images back with their own ids."""

from __future__ import annotations


from isegui.core.add_images import PlannedImage
from isegui.core.entities import ImageRecord, Split
from isegui.gui.commands.base import StoreCommand


class AddImagesCommand(StoreCommand):
    def __init__(self, session, plans: list[PlannedImage], split: Split = Split.TRAIN,
                 val_every: int = 0):
        n = len(plans)
        super().__init__(f"Add {n} image{'s' if n != 1 else ''}")
        self.session, self.plans, self.split = session, plans, split
        self.val_every = val_every
        self.records: list[ImageRecord] | None = None
        self._applied = False

    def apply(self) -> None:
        """Write now, before the push: a failed transaction raises here and leaves no step in
        the history (an error inside a push still puts the command on the stack)."""
        self.records = self.session.add_images(self.plans, self.split, self.val_every)
        self._applied = True

    def redo(self) -> None:
        if self._applied:
            self._applied = False  # the push's own redo: already written by apply()
        elif self.records is None:
            self.records = self.session.add_images(self.plans, self.split, self.val_every)
        else:
            self.session.restore_images(self.records)

    def undo(self) -> None:
        assert self.records is not None  # undo follows a redo
        self.session.remove_images([r.id for r in self.records])


class SetSplitCommand(StoreCommand):
    """Move images to the train, val or test split; undo puts each back in its own."""

    def __init__(self, session, image_ids: list[int], split: Split):
        n = len(image_ids)
        super().__init__(f"Move {n} image{'s' if n != 1 else ''} to {Split(split).value}")
        self.session, self.split = session, Split(split)
        self.before = {i: session.store.image(i).split for i in image_ids}

    def redo(self) -> None:
        self.session.set_splits({i: self.split for i in self.before})

    def undo(self) -> None:
        self.session.set_splits(self.before)
