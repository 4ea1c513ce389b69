"""The base of every undoable edit: each step is one store transaction, and a step whose write
fails (disk full, the share gone) is not recorded.

A subclass writes `redo` and `undo` as usual; they are wrapped on class creation. When the
store raises, the transaction has rolled back, the command marks itself obsolete (QUndoStack
then drops it instead of keeping a step that never happened) and the session is told, which
makes the window read-only and says why. While the session is read-only no step runs.

In a team project an edit can meet another member's newer version of an instance (StaleEdit):
the step is dropped the same way, the image is reloaded and the session says who changed it
when; the refused shape goes to the clipboard, so nothing typed is lost."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from PySide6.QtGui import QUndoCommand

from isegui.core.errors import StaleEdit
from isegui.core.store.engine import (PostgresConnectionLost, PostgresLockTimeout,
                                      PostgresPermissionDenied)
from isegui.core.store import WRITE_FAILURES, write_failure_in_words

if TYPE_CHECKING:
    from isegui.gui.session import ProjectSession


class StoreCommand(QUndoCommand):
    session: ProjectSession  # every subclass sets self.session in __init__

    def refused_shapes(self) -> list:
        """What this step would have written, kept when a conflict refuses it."""
        return []

    def check_not_changed_elsewhere(self, image_id: int, instance_ids, seen: dict) -> None:
        """Undo and redo of a step are refused for an instance that someone else changed
        after the step was made (`seen`: the document's count of such changes back then)."""
        doc = self.session.document_for(image_id)
        for i in instance_ids:
            if doc.changed_elsewhere.get(i, 0) != seen.get(i, 0):
                inst = doc.instance(i) if i in doc else None
                who = inst.edited_by if inst is not None and inst.edited_by else "someone else"
                when = inst.edited_at if inst is not None and inst.edited_at else "since"
                raise StaleEdit(f"instance {i} was changed by {who} at {when}", image_id, i,
                                who, when)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("redo", "undo"):
            if name in cls.__dict__:
                setattr(cls, name, _guarded(cls.__dict__[name]))


def _guarded(method):
    @functools.wraps(method)
    def run(self) -> None:
        session = self.session
        if session.read_only:
            self.setObsolete(True)
            session.refuse_edit()
            return
        holder = session.held_elsewhere()
        if holder is not None:
            self.setObsolete(True)
            session.editConflict.emit(f"Not saved: {holder[0]} is labeling this image (since "
                                      f"{holder[1]}); Image > Take over this image to label "
                                      "it yourself.")
            return
        try:
            with session.store.transaction():
                method(self)
        except StaleEdit as exc:
            self.setObsolete(True)
            session.edit_conflict(exc, self.refused_shapes())
        except PostgresPermissionDenied as exc:  # the team's roles say no: only this step
            self.setObsolete(True)
            session.editConflict.emit(f"Not allowed: {exc}")
        except PostgresConnectionLost as exc:  # the server went away mid-step: only it is lost
            self.setObsolete(True)
            session.editConflict.emit(f"Not saved: {exc}; try again")
        except PostgresLockTimeout as exc:  # a team mate's open change held it: only this step
            self.setObsolete(True)
            session.editConflict.emit(f"Not saved: {write_failure_in_words(exc)}")
        except WRITE_FAILURES as exc:
            self.setObsolete(True)
            session.write_failed(exc)
    return run
