import gc
import os
import shutil
import subprocess
from pathlib import Path

from isegui.gui import display_check


def test_no_display_is_explained(monkeypatch):
    monkeypatch.setattr(display_check.sys, "platform", "linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(display_check, "missing_libraries", lambda: [])
    (problem,) = display_check.problems()
    assert "xvfb-run -a make run" in problem


def test_missing_qt_libraries_are_named_with_the_install_command(monkeypatch):
    monkeypatch.setattr(display_check.sys, "platform", "linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    fake = ("\tlibxcb-cursor.so.0 => not found\n\tlibEGL.so.1 => not found\n"
            "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n")
    monkeypatch.setattr(display_check, "_xcb_plugin", lambda: "libqxcb.so")
    monkeypatch.setattr(display_check.subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a, 0, fake, ""))
    (problem,) = display_check.problems()
    assert "libxcb-cursor.so.0" in problem
    assert "sudo apt-get install libegl1 libxcb-cursor0" in problem


def test_offscreen_needs_nothing(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert display_check.problems() == []


def test_isegui_with_a_folder_opens_the_app(monkeypatch, tmp_path):
    import isegui.gui.app as app
    from isegui.cli import main
    seen = []
    monkeypatch.setattr(app, "run_app", lambda argv: seen.append(argv) or 0)
    assert main([str(tmp_path)]) == 0 and seen == [[str(tmp_path)]]
    assert main([]) == 0 and seen[-1] == []
    assert main(["a", "b"]) == 2


def test_a_locked_project_is_refused_with_the_reason(qtbot, tmp_path, monkeypatch):
    import isegui.gui.app as app
    from isegui.core.project import Project
    from tests.gui.conftest import make_project
    folder = make_project(tmp_path / "p")
    messages = []
    monkeypatch.setattr(app.QMessageBox, "critical",
                        lambda parent, title, text: messages.append(text))
    monkeypatch.setattr(app, "_choose_project", lambda: None)
    with Project.open(folder):
        assert app.open_window(folder) is None
    assert "already open in another isegui" in messages[0]


def test_recent_projects_persist_most_recent_first_without_missing_ones(qtbot, tmp_path):
    from isegui.core.project import Project
    from isegui.gui import app
    from isegui.gui.user_settings import (LAST_PROJECT, MAX_RECENT, RECENT_PROJECTS,
                                          recent_projects, remember_project, settings)
    from tests.gui.conftest import make_project
    settings().remove(RECENT_PROJECTS)
    first, second, gone = (make_project(tmp_path / name) for name in ("first", "second", "gone"))
    remember_project(gone)
    remember_project(second)
    shutil.rmtree(gone)
    window = app.open_window(first)  # opening a project remembers it
    assert recent_projects() == [first.resolve(), second.resolve()]
    window.show()

    window.recent_menu.aboutToShow.emit()
    entries = [a for a in window.recent_menu.actions() if a.data()]
    assert [a.data() for a in entries] == [str(second.resolve())]  # not the one on screen
    entries[0].trigger()
    gc.collect()  # the new window is held by the app, not by a reference of this test
    from PySide6.QtWidgets import QApplication
    from isegui.gui.main_window import MainWindow
    [new] = [w for w in QApplication.topLevelWidgets()
             if isinstance(w, MainWindow) and w.isVisible()]
    try:
        assert new.session.project.folder.resolve() == second.resolve() and new.isVisible()
        assert not window.isVisible()
        Project.open(first).close()  # the first project was closed with its window
        assert recent_projects() == [second.resolve(), first.resolve()]
        settings().sync()
        stored = (Path(os.environ["XDG_CONFIG_HOME"]) / "isegui" / "isegui.conf").read_text()
        assert str(second.resolve()) in stored  # in the user's settings file
        assert settings().value(LAST_PROJECT) == str(second.resolve())
    finally:
        new.close()
        new.session.close()
        new.deleteLater()

    for k in range(MAX_RECENT + 2):
        remember_project(make_project(tmp_path / f"p{k}"))
    assert len(recent_projects()) == MAX_RECENT
    assert recent_projects()[0] == (tmp_path / f"p{MAX_RECENT + 1}").resolve()


def test_a_recent_project_that_cannot_open_leaves_the_window(window, tmp_path, dialogs):
    from isegui.core.project import Project
    from isegui.gui import app
    from tests.gui.conftest import make_project
    other = make_project(tmp_path / "other")
    with Project.open(other):  # open elsewhere: locked
        assert app.switch_project(window, other) is None
    assert window.isVisible() and "already open in another isegui" in dialogs[-1][1]


def test_show_log_folder_opens_the_log_folder(window, monkeypatch, tmp_path):
    from PySide6.QtGui import QDesktopServices
    monkeypatch.setenv("ISEGUI_LOG_DIR", str(tmp_path / "logs"))
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    action = window.actions_by_name["show-logs"]
    assert action in help_menu.actions()
    action.trigger()
    assert [url.toLocalFile() for url in opened] == [str(tmp_path / "logs")]
    assert (tmp_path / "logs").is_dir()
    assert str(tmp_path / "logs") in window.statusBar().currentMessage()
