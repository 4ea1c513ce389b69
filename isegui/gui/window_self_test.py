"""The self-test's window check: the main window with every panel on a project, opened, painted
and closed off screen, and the platform plugin this system's screen needs found where Qt looks
for plugins (the packaged program must carry it)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

NATIVE_PLUGINS = {"win32": "qwindows", "darwin": "qcocoa"}  # elsewhere: qxcb


def open_and_close_main_window(folder: Path) -> str:
    # off screen unless the caller asks for a platform: no window flashes up on a line PC
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from isegui.core.project import Project
    from isegui.gui.app import route_qt_messages
    from isegui.gui.main_window import MainWindow
    from isegui.gui.session import ProjectSession
    route_qt_messages()
    app = QApplication.instance() or QApplication([sys.argv[0]])
    native = native_platform_plugin()
    session = ProjectSession(Project.open(folder))
    try:
        window = MainWindow(session)
        window.open_first_image()
        window.show()
        app.processEvents()
        if session.document is None:
            raise AssertionError("the window shows no image of the demo project")
        if window.grab().isNull():
            raise AssertionError("the window could not be painted")
        window.close()
        window.deleteLater()
        app.processEvents()
    finally:
        session.close()
    return f"{QApplication.platformName()} platform; {native} found for this system's screen"


def native_platform_plugin() -> str:
    """The file of the platform plugin a real screen here needs, from Qt's plugin folders."""
    from PySide6.QtCore import QCoreApplication
    wanted = NATIVE_PLUGINS.get(sys.platform, "qxcb")
    folders = [Path(p) / "platforms" for p in QCoreApplication.libraryPaths()]
    for folder in folders:
        if folder.is_dir():
            for path in folder.iterdir():
                if path.name.removeprefix("lib").split(".")[0] == wanted:
                    return path.name
    raise AssertionError(f"Qt's {wanted} platform plugin is not in "
                         f"{', '.join(map(str, folders)) or 'any plugin folder'}")


def open_and_close_station(watcher) -> str:
    """The station view on `watcher`, opened, painted and closed off screen (the line
    folder's self-test: isegui-station.exe)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from isegui.gui.app import route_qt_messages
    from isegui.gui.station import StationWindow
    route_qt_messages()
    app = QApplication.instance() or QApplication([sys.argv[0]])
    native = native_platform_plugin()
    window = StationWindow(watcher, "isegui station self-test")
    window.show()
    app.processEvents()
    if window.grab().isNull():
        raise AssertionError("the station could not be painted")
    window.close()
    window.deleteLater()
    app.processEvents()
    return f"{QApplication.platformName()} platform; {native} found for this system's screen"
