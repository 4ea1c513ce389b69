"""File > New team project…: the team project NAME in a PostgreSQL database, with a folder as
the team's image root, and the NAME.isegui-team file that opens it (what `isegui team create`
does). The project is made here, under a wait cursor; a refusal (a password in the URL, a name
that is taken, a server that says no) shows in the dialog, which stays open as it was."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QApplication, QCheckBox, QDialog, QDialogButtonBox,
                               QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QVBoxLayout, QWidget)

from isegui.core.errors import IseguiError
from isegui.core.project import Project
from isegui.core.store.engine import PostgresFailure
from isegui.core.store.team import TEAM_SUFFIX, checked_url, schema_name

URL_PLACEHOLDER = "postgresql://USER@HOST[:PORT]/DATABASE"
_KEEP = '<span style="white-space: nowrap">{}</span>'  # one line: a path, a command
HELP = ("The project goes into the PostgreSQL database IT runs; the images stay in the team's "
        "shared folder.<br>The password is never in the URL: PostgreSQL reads it from its "
        f"password file ({_KEEP.format('~/.pgpass')}, on Windows "
        f"{_KEEP.format('%APPDATA%&#92;postgresql&#92;pgpass.conf')}) or PGPASSWORD. No login "
        "yet? Ask IT for one (README: <i>Working as a team</i>).<br>Each team mate needs a role "
        f"({_KEEP.format('isegui team add FILE LOGIN')}) and a copy of the team file with "
        "their own login in its URL.")


@contextmanager
def _wait_cursor() -> Iterator[None]:
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        yield
    finally:
        QApplication.restoreOverrideCursor()


class NewTeamProjectDialog(QDialog):
    """Accepted once the team project and its file are made: `team_file` is that file."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("New team project")
        self.team_file: Path | None = None
        self.url = QLineEdit()
        self.url.setPlaceholderText(URL_PLACEHOLDER)
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. line3: letters, digits, - and _")
        self.images = QLineEdit()
        self.images.setPlaceholderText("the team's shared folder of images")
        self.in_database = QCheckBox("Keep the images in the database (no shared folder)")
        self.in_database.setToolTip("Each image file is stored in the database when it is "
                                    "added; each PC reads it from its own images folder, or "
                                    "from the database when that folder lacks it")
        self.file = QLineEdit()
        self.file.setPlaceholderText(f"NAME{TEAM_SUFFIX} beside the image folder")
        self._file_edited = False  # the user chose the file: names and folders leave it be
        self.file.textEdited.connect(self._file_typed)
        self.name.textChanged.connect(self._suggest_file)
        self.images.textChanged.connect(self._suggest_file)
        self.help = QLabel(HELP)
        self.help.setTextFormat(Qt.TextFormat.RichText)
        self.help.setWordWrap(True)
        self.help.setStyleSheet("color: palette(placeholder-text)")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Database", self.url)
        form.addRow("Project name", self.name)
        form.addRow("Images folder", self._with_browse(self.images, self._browse_images))
        form.addRow("", self.in_database)
        form.addRow("Team file", self._with_browse(self.file, self._browse_file))
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.help)
        layout.addStretch(1)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(640, 320)

    @staticmethod
    def _with_browse(edit: QLineEdit, browse) -> QWidget:
        button = QPushButton("Browse…")
        button.clicked.connect(browse)
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit)
        row.addWidget(button)
        return box

    def _browse_images(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "The team's image folder",
                                                  self.images.text().strip())
        if chosen:
            self.images.setText(chosen)

    def _browse_file(self) -> None:
        chosen, _ = QFileDialog.getSaveFileName(
            self, "Save the team file", self.file.text().strip(),
            f"isegui team file (*{TEAM_SUFFIX})")
        if chosen:
            if not chosen.endswith(TEAM_SUFFIX):
                chosen += TEAM_SUFFIX
            self.file.setText(chosen)
            self._file_edited = True

    def _file_typed(self, text: str) -> None:
        self._file_edited = bool(text.strip())  # emptied: back to the suggestion

    def suggested_file(self) -> str:
        """<image folder's parent>/<name>.isegui-team, or '' until both are given."""
        name, images = self.name.text().strip(), self.images.text().strip()
        if not (name and images):
            return ""
        return str(Path(images).parent / f"{name}{TEAM_SUFFIX}")

    def _suggest_file(self) -> None:
        if not self._file_edited:
            self.file.setText(self.suggested_file())

    def file_path(self) -> Path | None:
        """The team file to write (given its suffix when typed without), or None."""
        text = self.file.text().strip()
        if not text:
            return None
        return Path(text if text.endswith(TEAM_SUFFIX) else text + TEAM_SUFFIX)

    def problem(self) -> str | None:
        """Why the values cannot make a team project, or None (the server may still say no)."""
        url, name = self.url.text().strip(), self.name.text().strip()
        images, file = self.images.text().strip(), self.file_path()
        if not url:
            return f"Enter the database's connection ({URL_PLACEHOLDER})."
        try:
            checked_url(url)  # before anything is made in the database
            if not name:
                return "Enter a name for the team project."
            schema_name(name)
        except ValueError as exc:
            return _sentence(str(exc))
        if not images:
            return "Choose the team's image folder."
        if not Path(images).is_dir():
            return f"{images}: not a folder."
        if file is None:
            return "Choose where to save the team file."
        if file.exists():
            return f"{file}: already there; open it instead, or choose another file."
        if not file.parent.is_dir():
            return f"{file.parent}: no such folder for the team file."
        return None

    def accept(self) -> None:
        problem = self.problem()
        if problem:
            self.error.setText(problem)
            return
        self.error.setText("")
        file = self.file_path()
        assert file is not None  # problem() said so
        try:
            with _wait_cursor():
                project = Project.create_team(self.url.text().strip(), self.name.text().strip(),
                                              self.images.text().strip(), file,
                                              images_in_database=self.in_database.isChecked())
        except (IseguiError, PostgresFailure, ValueError, OSError) as exc:
            self.error.setText(f"The team project was not made: {_one_text(str(exc))}")
            return
        self.team_file = project.team_file
        project.close()
        super().accept()


def _one_text(message: str) -> str:
    """The driver's lines (indented with tabs) as one text, each line a sentence."""
    lines = [" ".join(line.split()) for line in message.splitlines() if line.strip()]
    return " ".join(line if line.endswith((".", ":", ";", "?", "!")) or k == len(lines) - 1
                    else line + "." for k, line in enumerate(lines))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def ask_new_team_project(window) -> NewTeamProjectDialog:
    """File > New team project…: make it, then switch the window to it."""
    dialog = NewTeamProjectDialog(window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.accepted.connect(lambda: window.projectRequested.emit(dialog.team_file, None))
    dialog.open()
    return dialog
