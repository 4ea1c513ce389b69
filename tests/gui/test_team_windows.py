"""Two windows on one team project (two sessions, two connections to a real PostgreSQL):
each sees the other's edits within 2 s, a save over a newer version is refused and reloaded
with the loser's shape kept, and undo of an edit a team mate changed since is refused."""

import time

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from shapely.geometry import box

from isegui.core.images import save_image
from isegui.core.project import Project
from tests.gui.conftest import Driver


@pytest.fixture
def team_windows(qtbot, tmp_path, pg_database):
    from isegui.gui.app import open_window
    root = tmp_path / "share"
    (root / "images").mkdir(parents=True)
    save_image(root / "images/a.png", np.full((150, 200, 3), 90, np.uint8))
    team_file = tmp_path / "line3.isegui-team"
    with Project.create_team(pg_database, "line3", root, team_file) as project:
        project.store.add_class("pill")
        project.store.add_image("images/a.png", 200, 150)
    windows = []
    for k in range(2):
        win = open_window(team_file)
        qtbot.addWidget(win)
        win.resize(1000, 700)
        win.move(k * 40, k * 40)
        win.show()
        qtbot.waitExposed(win)
        win.view.resetTransform()
        win.view.centerOn(QPointF(100, 75))
        windows.append(win)
    yield windows
    for win in windows:
        win.close()
        win.session.close()


def _shapes(win):
    return {i.id: i.shape for i in win.session.document.instances()}


def test_each_window_sees_the_others_edits_within_two_seconds(qtbot, team_windows):
    a, b = team_windows
    assert a.session.project.is_team and a.session.feed is not None
    drive = Driver(a)
    a.activateWindow()
    a.view.setFocus()
    a.set_tool("rectangle")
    drive.drag([(20, 20), (60, 50), (80, 70)])
    assert len(_shapes(a)) == 1, (a.session.document, a.view.tool.name,
                                  a.session.read_only_reason, a.statusBar().currentMessage())
    (made,) = _shapes(a)
    start = time.monotonic()
    qtbot.waitUntil(lambda: made in _shapes(b), timeout=2000)
    assert time.monotonic() - start < 2.0
    assert _shapes(b)[made].equals(_shapes(a)[made])
    assert "Changed by" in b.statusBar().currentMessage()
    assert b.session.undo_stack.count() == 0  # not B's step


def test_a_save_over_a_newer_version_is_refused_reloaded_and_kept(qtbot, team_windows):
    from isegui.gui.commands.instance_commands import UpdateInstanceCommand
    from isegui.gui.edit_actions import _clipboard
    a, b = team_windows
    image_id = a.session.document.image_id
    inst = a.session.store.add_instance(image_id, None, box(10, 10, 40, 40))
    for win in (a, b):  # both have it on screen, version 1
        win.session.document.reload()
    b.session._feed_timer.stop()  # B has not heard of A's next edit yet
    a.session.undo_stack.push(UpdateInstanceCommand(a.session, image_id, inst.id,
                                                    shape=box(10, 10, 50, 50)))
    mine = box(0, 0, 20, 20)
    b.session.undo_stack.push(UpdateInstanceCommand(b.session, image_id, inst.id, shape=mine))
    assert b.session.undo_stack.count() == 0  # the refused step is not kept
    message = b.statusBar().currentMessage()
    assert f"changed by {a.session.store.user} at" in message and "reloaded" in message
    assert _shapes(b)[inst.id].equals(box(10, 10, 50, 50))  # A's version on screen
    assert a.session.store.instance(image_id, inst.id).shape.equals(box(10, 10, 50, 50))
    assert _clipboard and _clipboard[-1]["shape"].equals(mine)  # B's shape not lost


def test_undo_of_an_edit_a_team_mate_changed_since_is_refused(qtbot, team_windows):
    from isegui.gui.commands.instance_commands import UpdateInstanceCommand
    a, b = team_windows
    image_id = a.session.document.image_id
    inst = a.session.store.add_instance(image_id, None, box(10, 10, 40, 40))
    for win in (a, b):
        win.session.document.reload()
    a.session.undo_stack.push(UpdateInstanceCommand(a.session, image_id, inst.id,
                                                    shape=box(10, 10, 60, 60)))
    qtbot.waitUntil(lambda: _shapes(b)[inst.id].equals(box(10, 10, 60, 60)), timeout=2000)
    b.session.undo_stack.push(UpdateInstanceCommand(b.session, image_id, inst.id, z=5))
    qtbot.waitUntil(lambda: a.session.document.instance(inst.id).z == 5, timeout=2000)
    a.session.undo_stack.undo()  # A's shape edit: B changed the instance since
    assert a.session.store.instance(image_id, inst.id).shape.equals(box(10, 10, 60, 60))
    assert f"changed by {b.session.store.user}" in a.statusBar().currentMessage()
    assert a.session.store.instance(image_id, inst.id).z == 5  # B's change stands
