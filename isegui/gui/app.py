"""Starting the app: which project to open (the one named, the last one, or, on a new
machine, the demo), the window, and per-user settings."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from isegui.core.errors import IseguiError
from isegui.core.project import PROJECT_FILE, Project

ORGANIZATION, APPLICATION = "isegui", "isegui"
LAST_PROJECT = "projects/last"
DEMO_FOLDER = Path.home() / "isegui-demo"


def settings() -> QSettings:
    return QSettings(ORGANIZATION, APPLICATION)


def run_app(argv: list[str]) -> int:
    from isegui.gui.display_check import problems
    found = problems()
    if found:
        for text in found:
            print(f"isegui cannot open its window:\n{text}", file=sys.stderr)
        return 1
    app = QApplication.instance() or QApplication([sys.argv[0], *argv[1:]])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    folder = Path(argv[0]) if argv else _last_project()
    window = open_window(folder)
    if window is None:
        return 1
    window.show()
    return app.exec()


def open_window(folder: Path | None):
    """The main window on `folder` (asking for a project when there is none); None when the
    user gives up."""
    from isegui.gui.main_window import MainWindow
    from isegui.gui.session import ProjectSession
    while True:
        if folder is None:
            folder = _choose_project()
            if folder is None:
                return None
        try:
            project = Project.open(folder)
        except IseguiError as exc:
            QMessageBox.critical(None, "isegui", f"Cannot open the project.\n\n{exc}")
            folder = None
            continue
        settings().setValue(LAST_PROJECT, str(project.folder))
        window = MainWindow(ProjectSession(project))
        window.open_first_image()
        return window


def _last_project() -> Path | None:
    value = settings().value(LAST_PROJECT)
    if value and (Path(value) / PROJECT_FILE).is_file():
        return Path(value)
    return None


def _choose_project() -> Path | None:
    box = QMessageBox()
    box.setWindowTitle("isegui")
    box.setText("Which project?")
    box.setInformativeText("Open a project folder, or start with the demo project: synthetic "
                           "pills, washers and chips, already labeled.")
    open_button = box.addButton("Open a project folder…", QMessageBox.ButtonRole.AcceptRole)
    demo_button = box.addButton("Open the demo project", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    if box.clickedButton() is demo_button:
        if not (DEMO_FOLDER / PROJECT_FILE).is_file():
            from isegui.core.demo import create_demo_project
            create_demo_project(DEMO_FOLDER).close()
        return DEMO_FOLDER
    if box.clickedButton() is open_button:
        chosen = QFileDialog.getExistingDirectory(None, "Project folder")
        return Path(chosen) if chosen else None
    return None
