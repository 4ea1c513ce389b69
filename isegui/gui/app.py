"""Starting the app: which project to open (the one named, the last one, or, on a new
machine, a choice: a new project from images, a project folder, the demo), the window,
switching it to another project, and Qt's own messages in the log file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtCore import (QCoreApplication, QObject, QtMsgType, QTimer,
                            qInstallMessageHandler)
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMessageBox, QWidget

from isegui.core.errors import IseguiError
from isegui.core.project import PROJECT_FILE, Project
from isegui.gui.user_settings import (APPLICATION, ORGANIZATION, last_project,
                                      remember_project)
from isegui.logs import FILE_ONLY

DEMO_FOLDER = Path.home() / "isegui-demo"
QT_LEVELS = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
             QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
             QtMsgType.QtFatalMsg: logging.CRITICAL}
log = logging.getLogger(__name__)


def run_app(argv: list[str]) -> int:
    from isegui.gui.display_check import problems
    found = problems()
    if found:
        for text in found:
            print(f"isegui cannot open its window:\n{text}", file=sys.stderr)
        return 1
    route_qt_messages()
    app = QApplication.instance() or QApplication([sys.argv[0], *argv[1:]])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    folder = Path(argv[0]) if argv else last_project()
    window = open_window(folder)
    if window is None:
        return 1
    window.show()
    code = app.exec()
    log.info("the app closed with %d", code)
    return code


def open_window(folder: Path | None):
    """The main window on `folder` (asking for a project when there is none); None when the
    user gives up."""
    while True:
        job = None
        if folder is None:
            choice = _choose_project()
            if choice is None:
                return None
            folder, job = (choice, None) if isinstance(choice, Path) else \
                _made_from_images(choice)
            if folder is None:
                continue
        try:
            window = _window_on(folder)
        except IseguiError as exc:
            QMessageBox.critical(None, "isegui", f"Cannot open the project.\n\n{exc}")
            folder = None
            continue
        if job is not None:  # once the window is up: its progress dialog sits on it
            from isegui.gui.image_adding import start_adding
            QTimer.singleShot(0, window, lambda w=window, j=job: start_adding(w, j))
        return window


def switch_project(window, folder: Path):
    """A window on `folder` in place of `window`, which closes with its project; None, and
    `window` as it was, when the project cannot be opened (a message says why)."""
    current = window.session.project.team_file or window.session.project.folder
    if Path(folder).resolve() == current.resolve():
        return window
    try:
        new = _window_on(folder)
    except IseguiError as exc:
        QMessageBox.critical(window, "isegui", f"Cannot open the project.\n\n{exc}")
        return None
    new.setGeometry(window.geometry())
    new.show()
    window.close()
    window.session.close()
    window.deleteLater()
    _keep_open(new)
    return new


class _OpenWindows(QObject):
    """Holds the windows opened in place of another: a top-level widget made in Python lives
    only as long as a Python reference does. A child of the application, so it goes with it."""

    def __init__(self, app: QCoreApplication) -> None:
        super().__init__(app)
        self.setObjectName("isegui-open-windows")
        self.windows: list[QWidget] = []

    def keep(self, window: QWidget) -> None:
        self.windows.append(window)
        window.destroyed.connect(lambda *_: self._forget(window))

    def _forget(self, window: QWidget) -> None:
        self.windows = [w for w in self.windows if w is not window]


def _keeper() -> _OpenWindows:
    app = QCoreApplication.instance()
    assert app is not None  # windows open only while the application runs
    return app.findChild(_OpenWindows, "isegui-open-windows") or _OpenWindows(app)


def _keep_open(window: QWidget) -> None:
    _keeper().keep(window)


def opened_windows() -> list[QWidget]:
    """The windows opened in place of another and not yet destroyed, oldest first."""
    return list(_keeper().windows)


def _open_requested(window, folder: Path, job) -> None:
    """A window's request for another project: opened in its place, then `job` started."""
    new = switch_project(window, folder)
    if new is not None and job is not None:
        from isegui.gui.image_adding import start_adding
        start_adding(new, job)


def route_qt_messages() -> None:
    """Qt's own messages go to the log file: a line PC has no console to show them."""
    qt_log = logging.getLogger("qt")

    def handler(kind, context, message: str) -> None:
        level = QT_LEVELS.get(kind, logging.WARNING)
        qt_log.log(level, message, extra=FILE_ONLY if level < logging.ERROR else None)

    qInstallMessageHandler(handler)


def _window_on(folder: Path):
    from isegui.gui.main_window import MainWindow
    from isegui.gui.session import ProjectSession
    project = Project.open(folder)
    remember_project(project.team_file or project.folder)
    log.info("opened the project %s", project.team_file or project.folder)
    window = MainWindow(ProjectSession(project))
    window.projectRequested.connect(
        lambda folder, job, w=window: _open_requested(w, Path(folder), job))
    window.open_first_image()
    return window


def start_dialog() -> tuple[QMessageBox, dict]:
    """The question on a new machine, with its choices by key: new, open, demo."""
    box = QMessageBox()
    box.setWindowTitle("isegui")
    box.setText("Which project?")
    box.setInformativeText("Make a project from a folder of your own images (they come in "
                           "unlabeled, ready to label), open a project folder, or start with "
                           "the demo project: synthetic pills, washers and chips, already "
                           "labeled.")
    choices = {
        "new": box.addButton("New project from images…", QMessageBox.ButtonRole.AcceptRole),
        "open": box.addButton("Open a project…", QMessageBox.ButtonRole.ActionRole),
        "demo": box.addButton("Open the demo project", QMessageBox.ButtonRole.ActionRole)}
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(choices["new"])
    return box, choices


def _choose_project():
    """A project folder, a NewProjectRequest to make one from images, or None when the user
    gives up. Cancelling a choice's own dialog asks again."""
    from isegui.gui.dialogs.new_project import NewProjectDialog
    while True:
        box, choices = start_dialog()
        box.exec()
        clicked = box.clickedButton()
        if clicked is choices["demo"]:
            if not (DEMO_FOLDER / PROJECT_FILE).is_file():
                from isegui.core.demo import create_demo_project
                create_demo_project(DEMO_FOLDER).close()
            return DEMO_FOLDER
        if clicked is choices["open"]:
            chosen = QFileDialog.getExistingDirectory(None, "Project folder")
            if chosen:
                return Path(chosen)
        elif clicked is choices["new"]:
            dialog = NewProjectDialog()
            if dialog.exec() == QDialog.DialogCode.Accepted:
                return dialog.request()
        else:
            return None


def _made_from_images(request):
    """(folder, job to add its images) of the project the start dialog asked for; (None,
    None) when it cannot be made (a message says why)."""
    from isegui.gui.image_adding import create_project
    try:
        create_project(request)
    except (IseguiError, OSError) as exc:
        QMessageBox.critical(None, "isegui", f"The project was not made.\n\n{exc}")
        return None, None
    return request.folder, request.job
