"""Own images in, in the window: File > New project…, File > Add images…, a drop, the start
dialog; the check runs in a worker, the add is one undoable step."""

import time

import numpy as np
import pytest
import shiboken6
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QPushButton

from isegui.core.entities import ImageStatus
from isegui.core.images import save_image
from isegui.gui import app
from isegui.gui.dialogs.add_images import AddImagesDialog
from isegui.gui.dialogs.new_project import NewProjectDialog, NewProjectRequest
from isegui.gui.workers.add_images_worker import AddImagesJob, AddImagesResult
from tests.gui.conftest import make_project


def _photos(folder, names=("a.jpg", "b.png", "sub/c.png")):
    rng = np.random.default_rng(0)
    for name in names:
        save_image(folder / name, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    return folder


def _click_ok(qtbot, dialog):
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)


def _added(qtbot, window):
    """Wait for the window's add-images job to end; its summary box (None when cancelled)."""
    qtbot.waitUntil(lambda: getattr(window, "image_adder", None) is not None
                    and not window.image_adder.running, timeout=30_000)
    return window.image_adder.summary


def _listed(window):
    return [window.images.list.item(r).text() for r in range(window.images.list.count())]


def test_new_project_dialog_makes_the_project_with_the_images_unlabeled(qtbot, tmp_path,
                                                                        windows):
    photos = _photos(tmp_path / "photos")
    first = app.open_window(make_project(tmp_path / "old"))
    windows.append(first)
    first.show()
    first.actions_by_name["new-project"].trigger()
    dialog = first.findChild(NewProjectDialog)
    assert dialog is not None and dialog.isVisible()
    dialog.images.setText(str(photos))
    _click_ok(qtbot, dialog)
    assert dialog.isVisible() and "folder for the project" in dialog.error.text()
    dialog.folder.setText(str(tmp_path / "line3"))
    dialog.classes.setPlainText("scratch, dent\nchip")
    dialog.options.copy.setChecked(True)
    _click_ok(qtbot, dialog)

    new = app.opened_windows()[-1]
    summary = _added(qtbot, new)
    assert new is not first and not shiboken6.isValid(first)  # closed, deleted
    assert new.session.project.folder == (tmp_path / "line3").resolve()
    assert [c.name for c in new.session.classes()] == ["scratch", "dent", "chip"]
    records = new.session.images()
    assert sorted(r.path for r in records) == ["images/a.jpg", "images/b.png",
                                                "images/sub/c.png"]
    assert {r.status for r in records} == {ImageStatus.UNLABELED}
    assert (tmp_path / "line3" / "images" / "sub" / "c.png").is_file()
    assert len(_listed(new)) == 3 and all(t.startswith("○") for t in _listed(new))
    assert new.session.document is not None  # the first image is on screen
    assert "3 images added" in summary.text()


def test_add_images_leaves_out_a_corrupt_file_and_undo_redo(window, qtbot, tmp_path):
    photos = _photos(tmp_path / "photos")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    window.actions_by_name["add-images"].trigger()
    dialog = window.findChild(AddImagesDialog)
    dialog.add_sources([photos])
    _click_ok(qtbot, dialog)
    summary = _added(qtbot, window)

    assert "3 images added" in summary.text() and "1 unreadable file left out" in summary.text()
    assert str((photos / "broken.jpg").resolve()) in summary.informativeText()
    assert len(_listed(window)) == 5
    added = {r.id: r for r in window.session.images() if r.path.startswith("../photos/")}
    assert len(added) == 3

    window.actions_by_name["undo"].trigger()
    assert len(_listed(window)) == 2 and window.session.store.image_count() == 2
    window.actions_by_name["redo"].trigger()
    assert len(_listed(window)) == 5
    assert {r.id: r for r in window.session.images() if r.id in added} == added

    window.actions_by_name["add-images"].trigger()
    dialog = window.findChild(AddImagesDialog)
    dialog.add_sources([photos])
    _click_ok(qtbot, dialog)
    assert "3 already in the project" in _added(qtbot, window).text()
    assert window.session.store.image_count() == 5


def _drop(window, paths):
    """A drag of local files entering the window, then the drop (Qt delivers a drop only
    to where the drag's enter was accepted). Returns whether each was accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    at = window.rect().center()
    enter = QDragEnterEvent(at, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    drop = QDropEvent(QPointF(at), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    return enter.isAccepted(), drop.isAccepted()


def test_dropped_folders_and_files_are_added(window, qtbot, tmp_path):
    photos = _photos(tmp_path / "photos")
    loose = _photos(tmp_path / "loose", ("x.tif",)) / "x.tif"
    assert _drop(window, [photos, loose]) == (True, True)
    _added(qtbot, window)
    paths = {r.path for r in window.session.images()}
    assert {"../photos/a.jpg", "../photos/sub/c.png", "../loose/x.tif"} <= paths
    assert len(_listed(window)) == 6

    text = QMimeData()
    text.setText("not files")
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, text,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert not enter.isAccepted()


def test_a_dropped_project_folder_opens(qtbot, tmp_path, windows, dialogs):
    first = app.open_window(make_project(tmp_path / "first"))
    windows.append(first)
    first.show()
    other = make_project(tmp_path / "other", images=1)
    assert _drop(first, [other]) == (True, True) and not dialogs
    new = app.opened_windows()[-1]
    assert new is not first and new.session.project.folder == other.resolve()
    assert not shiboken6.isValid(first) or not first.isVisible()


@pytest.fixture
def slow_check(monkeypatch):
    """The check runs until it is told to stop."""
    import isegui.gui.workers.add_images_worker as worker_module

    def check(files, progress, *, sources, stop):
        while not stop():
            time.sleep(0.01)
        return [], []

    monkeypatch.setattr(worker_module, "check_images", check)


def test_cancel_adds_nothing(window, qtbot, tmp_path, slow_check):
    photos = _photos(tmp_path / "photos")
    from isegui.gui.image_adding import start_adding
    adder = start_adding(window, AddImagesJob((photos,)))
    qtbot.waitUntil(adder.progress.isVisible)  # it shows once the job takes a while
    qtbot.mouseClick(adder.progress.findChild(QPushButton), Qt.MouseButton.LeftButton)
    assert _added(qtbot, window) is None
    assert window.session.store.image_count() == 2
    assert "cancelled" in window.statusBar().currentMessage()


def test_a_project_closed_mid_job_stops_it(qtbot, tmp_path, slow_check, windows):
    from isegui.gui.image_adding import start_adding
    win = app.open_window(make_project(tmp_path / "p"))
    windows.append(win)
    adder = start_adding(win, AddImagesJob((_photos(tmp_path / "photos"),)))
    assert adder.running
    win.close()
    win.session.close()
    assert not adder.running and adder.worker.isFinished()
    qtbot.wait(20)
    assert adder.summary is None


def test_many_problems_go_into_scrollable_details(window):
    from isegui.gui.image_adding import summary_box
    problems = [f"/photos/{k}.jpg: not an image file" for k in range(25)]
    box = summary_box(window, AddImagesJob((), copy=True),
                      AddImagesResult(problems=problems, found=25))
    assert "25 unreadable files left out" in box.text()
    assert "and 19 more" in box.informativeText()
    assert box.detailedText().count("\n") == 24


def test_the_start_dialog_offers_new_open_and_demo(qtbot, tmp_path, monkeypatch, windows):
    box, choices = app.start_dialog()
    assert set(choices) == {"new", "open", "demo"}
    assert [b.text() for b in choices.values()] == ["New project from images…",
                                                    "Open a project…", "Open the demo project"]
    assert all(b in box.buttons() for b in choices.values())

    photos = _photos(tmp_path / "photos")
    request = NewProjectRequest(tmp_path / "fresh", ("pill",), AddImagesJob((photos,)))
    monkeypatch.setattr(app, "_choose_project", lambda: request)
    window = app.open_window(None)
    windows.append(window)
    window.show()
    _added(qtbot, window)
    assert window.session.project.folder == (tmp_path / "fresh").resolve()
    assert window.session.store.image_count() == 3 and len(_listed(window)) == 3


def test_a_dropped_team_file_opens_the_team_project(qtbot, tmp_path, windows, dialogs,
                                                      pg_database):
    from isegui.core.project import Project
    root = tmp_path / "share"
    root.mkdir()
    team_file = tmp_path / "line3.isegui-team"
    Project.create_team(pg_database, "line3", root, team_file).close()
    first = app.open_window(make_project(tmp_path / "first"))
    windows.append(first)
    first.show()
    assert _drop(first, [team_file]) == (True, True) and not dialogs
    new = app.opened_windows()[-1]
    assert new.session.project.is_team and new.session.project.team_file == team_file
