"""Adding images in the window (File > New project…, File > Add images…, a drop, the start
dialog's new project): the check runs in AddImagesWorker under a progress dialog; the result is
one undoable step and one summary message."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QMessageBox, QProgressDialog

from isegui.core.add_images import remove_files
from isegui.core.project import IMAGES_DIR, Project
from isegui.gui.commands.image_commands import AddImagesCommand
from isegui.gui.dialogs.add_images import AddImagesDialog
from isegui.gui.dialogs.new_project import NewProjectDialog, NewProjectRequest
from isegui.gui.workers.add_images_worker import AddImagesJob, AddImagesResult, AddImagesWorker

TITLE = "Add images"
SHOWN_PROBLEMS = 6  # more go into the message's scrollable details


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class ImageAdder(QObject):
    """One job on one window: the worker and its progress dialog, then the step and the
    summary (`summary`, once shown)."""

    def __init__(self, window, job: AddImagesJob):
        super().__init__(window)
        self.window, self.job, self.session = window, job, window.session
        self.worker = AddImagesWorker(self.session.project, job,
                                      {r.path for r in self.session.images()})
        self.progress = QProgressDialog("Looking for images…", "Cancel", 0, 0, window)
        self.progress.setWindowTitle(TITLE)
        self.progress.setWindowModality(Qt.WindowModality.WindowModal)
        self.progress.setMinimumDuration(400)
        self.progress.setAutoClose(False)
        self.progress.setAutoReset(False)
        self.progress.canceled.connect(self.worker.cancel)
        self.worker.progress.connect(self._progress)
        self.worker.done.connect(self._done)
        self.session.aboutToClose.connect(self._abandon)
        self.summary: QMessageBox | None = None
        self.running = True

    def start(self) -> None:
        self.worker.start()

    @Slot(str, int, int)
    def _progress(self, phase: str, done: int, total: int) -> None:
        if self.progress.wasCanceled():
            return
        self.progress.setLabelText(f"{phase}… {done} of {total}" if total else f"{phase}…")
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    @Slot(object)
    def _done(self, result: AddImagesResult) -> None:
        if not self.running:  # abandoned with its project
            return
        self.worker.wait()
        self._finish_running()
        window = self.window
        if result.cancelled:
            remove_files(result.copies)
            window.statusBar().showMessage("Adding images cancelled: nothing was added.", 8000)
            return
        if result.error:
            QMessageBox.critical(window, TITLE, f"No images were added.\n\n{result.error}")
            return
        if result.plans:
            command = AddImagesCommand(self.session, result.plans, self.job.split,
                                       self.job.val_every)
            try:
                command.apply()
            except Exception as exc:  # the store refused: nothing recorded, no copies kept
                remove_files(result.copies)
                QMessageBox.critical(window, TITLE, f"No images were added.\n\n{exc}")
                return
            self.session.undo_stack.push(command)
        self.summary = summary_box(window, self.job, result)
        self.summary.open()

    def _finish_running(self) -> None:
        self.running = False
        self.progress.close()
        self.session.aboutToClose.disconnect(self._abandon)

    @Slot()
    def _abandon(self) -> None:
        """The project closes mid-job: stop, and keep no copies that will never be recorded."""
        self.worker.cancel()
        self.worker.wait()
        self._finish_running()
        if self.worker.result is not None:
            remove_files(self.worker.result.copies)


def summary_box(window, job: AddImagesJob, result: AddImagesResult) -> QMessageBox:
    """N added, M already in the project, K unreadable with each file and its problem."""
    added = len(result.plans)
    how = f"copied into the project's {IMAGES_DIR}/ folder" if job.copy else "by reference"
    lines = [f"{_plural(added, 'image')} added, unlabeled ({how})."]
    if not result.found:
        where = ", ".join(str(s) for s in job.sources)
        lines = [f"No image files found in {where}"
                 + ("" if job.recursive else " (subfolders not included)") + "."]
    if result.already_in_project:
        lines.append(f"{result.already_in_project} already in the project.")
    lines += [f"Note: {w}." for w in result.warnings]
    if result.problems:
        lines.append(f"{_plural(len(result.problems), 'unreadable file')} left out:")
    icon = QMessageBox.Icon.Warning if result.problems or not added else \
        QMessageBox.Icon.Information
    box = QMessageBox(icon, TITLE, "\n".join(lines), QMessageBox.StandardButton.Ok, window)
    if result.problems:
        shown = result.problems[:SHOWN_PROBLEMS]
        more = len(result.problems) - len(shown)
        box.setInformativeText("\n".join(shown) + (f"\n… and {more} more (Show Details…)"
                                                   if more else ""))
        if more:
            box.setDetailedText("\n".join(result.problems))
    return box


def start_adding(window, job: AddImagesJob) -> ImageAdder:
    """Check and add the job's images to the window's project (one job at a time)."""
    current = window.image_adder
    if current is not None and current.running:
        window.statusBar().showMessage("Still adding images; wait for that to finish.", 6000)
        return current
    window.image_adder = ImageAdder(window, job)
    window.image_adder.start()
    return window.image_adder


def ask_add_images(window) -> AddImagesDialog:
    """File > Add images…"""
    dialog = AddImagesDialog(window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.accepted.connect(lambda: start_adding(window, dialog.job()))
    dialog.open()
    return dialog


def ask_new_project(window) -> NewProjectDialog:
    """File > New project…: make it, switch the window to it, then add the images."""
    dialog = NewProjectDialog(window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.accepted.connect(lambda: _new_project(window, dialog.request()))
    dialog.open()
    return dialog


def _new_project(window, request: NewProjectRequest) -> None:
    try:
        create_project(request)
    except Exception as exc:  # a folder that cannot be written, a full disk
        QMessageBox.critical(window, "New project", f"The project was not made.\n\n{exc}")
        return
    window.projectRequested.emit(request.folder, request.job)  # the app opens it, then adds


def create_project(request: NewProjectRequest) -> None:
    """The empty project with its classes, in order."""
    Project.create(request.folder, classes=request.classes).close()
