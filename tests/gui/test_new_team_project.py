"""File > New team project…: the dialog makes the team project in a real PostgreSQL database
and its team file, and the window switches to it; a refusal (a password in the URL, a name
that is taken) shows in the dialog, which stays open with what was typed."""

import numpy as np
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, Qt
from PySide6.QtWidgets import QDialogButtonBox

from isegui.core.images import save_image
from isegui.core.store.team import TEAM_SUFFIX
from isegui.gui import app
from isegui.gui.dialogs.new_team_project import NewTeamProjectDialog
from tests.gui.conftest import make_project


def _click_ok(qtbot, dialog):
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)


def _open_dialog(window) -> NewTeamProjectDialog:
    window.actions_by_name["new-team-project"].trigger()
    dialog = window.findChild(NewTeamProjectDialog)
    assert dialog is not None and dialog.isVisible()
    return dialog


def test_new_team_project_dialog_makes_it_and_the_window_switches(qtbot, tmp_path, pg_database,
                                                                  windows, dialogs):
    root = tmp_path / "share" / "line3"
    save_image(root / "images" / "a.png", np.full((30, 40, 3), 90, np.uint8))
    first = app.open_window(make_project(tmp_path / "old"))
    windows.append(first)
    first.show()
    dialog = _open_dialog(first)
    assert dialog.url.placeholderText() == "postgresql://USER@HOST[:PORT]/DATABASE"

    with_password = pg_database.replace("isegui_admin@", "isegui_admin:secret@")
    assert with_password != pg_database
    dialog.url.setText(with_password)
    dialog.name.setText("line3")
    dialog.images.setText(str(root))
    team_file = tmp_path / "share" / f"line3{TEAM_SUFFIX}"
    assert dialog.file.text() == str(team_file)  # beside the image folder, named after it
    _click_ok(qtbot, dialog)
    assert dialog.isVisible() and "password" in dialog.error.text()
    assert (dialog.url.text(), dialog.name.text(), dialog.images.text(), dialog.file.text()) \
        == (with_password, "line3", str(root), str(team_file))  # nothing typed is lost
    assert not team_file.exists()

    dialog.url.setText(pg_database)
    _click_ok(qtbot, dialog)
    new = app.opened_windows()[-1]
    assert new is not first
    project = new.session.project
    assert project.is_team and project.name == "line3"
    assert project.folder == root.resolve()
    assert project.team_file == team_file.resolve() and team_file.is_file()
    assert "secret" not in team_file.read_text(encoding="utf-8")
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not shiboken6.isValid(first)  # closed with its project, in the new one's place

    # the same name again: the database says it exists; the team file is the user's choice
    again = _open_dialog(new)
    again.url.setText(pg_database)
    again.images.setText(str(root))
    again.file.clear()
    other = tmp_path / f"other{TEAM_SUFFIX}"
    qtbot.keyClicks(again.file, str(other))  # typed: a name or folder change leaves it be
    again.name.setText("line3")
    assert again.file.text() == str(other)
    _click_ok(qtbot, again)
    assert again.isVisible() and "already exists" in again.error.text()
    assert not other.exists() and app.opened_windows()[-1] is new
    again.reject()
    assert dialogs == []  # every refusal was said in the dialog


def test_the_dialog_checks_its_fields_before_the_database(qtbot, tmp_path, window):
    dialog = _open_dialog(window)
    _click_ok(qtbot, dialog)
    assert "connection" in dialog.error.text()
    dialog.url.setText("postgresql://someone@127.0.0.1:1/nowhere")
    _click_ok(qtbot, dialog)
    assert "name" in dialog.error.text()
    dialog.name.setText("line 3")
    _click_ok(qtbot, dialog)
    assert "letters, digits" in dialog.error.text()
    dialog.name.setText("line3")
    dialog.images.setText(str(tmp_path / "missing"))
    _click_ok(qtbot, dialog)
    assert "not a folder" in dialog.error.text() and dialog.isVisible()
    dialog.reject()
