"""A write the store cannot make (here: SQLite refuses every write, as on a full disk or a
share turned read-only) is said in a message, leaves no undo step and nothing half saved, and
the window edits no more."""

from PySide6.QtCore import Qt


def _saved(window):
    store = window.session.store
    return store.instances(window.session.document.image_id)


def test_a_failed_write_is_said_kept_out_of_the_history_and_the_window_goes_read_only(
        window, drive, dialogs):
    session = window.session
    drive.key(Qt.Key.Key_R)
    drive.drag([(10, 10), (40, 30), (60, 50)])
    assert len(_saved(window)) == 1 and session.undo_stack.count() == 1

    session.store.engine.conn.execute("PRAGMA query_only = 1")  # every write now fails in SQLite
    drive.drag([(100, 40), (160, 100)])
    (kind, text), = dialogs
    assert kind == "critical" and "cannot be written" in text and "read-only" in text
    assert session.undo_stack.count() == 1  # no step for what was not saved
    assert len(_saved(window)) == 1
    assert len(session.document.instances()) == 1  # the screen shows what is saved
    assert "READ-ONLY" in window.windowTitle()
    assert window.findChild(type(window.position), "read-only-banner").isVisible()
    assert not window.actions_by_name["tool-rectangle"].isEnabled()

    # nothing edits any more, and undo does not pretend either
    kept = _saved(window)
    drive.key(Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    drive.key(Qt.Key.Key_Delete)
    session.undo_stack.undo()
    assert _saved(window) == kept and len(session.document.instances()) == 1
    assert len(dialogs) == 1  # said once; later refusals go to the status bar
    assert "Read-only" in window.statusBar().currentMessage()
