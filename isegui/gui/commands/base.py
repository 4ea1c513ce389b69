"""The base of every undoable edit: each step is one store transaction, and a step whose write
fails (disk full, the share gone) is not recorded.

A subclass writes `redo` and `undo` as usual; they are wrapped on class creation. When the
store raises, the transaction has rolled back, the command marks itself obsolete (QUndoStack
then drops it instead of keeping a step that never happened) and the session is told, which
makes the window read-only and says why. While the session is read-only no step runs."""

from __future__ import annotations

import functools

from PySide6.QtGui import QUndoCommand

from isegui.core.store import WRITE_FAILURES


class StoreCommand(QUndoCommand):
    session = None  # every subclass sets self.session (a ProjectSession) in __init__

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
        try:
            with session.store.transaction():
                method(self)
        except WRITE_FAILURES as exc:
            self.setObsolete(True)
            session.write_failed(exc)
    return run
