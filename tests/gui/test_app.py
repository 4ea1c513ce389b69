import subprocess


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
