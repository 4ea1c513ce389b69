"""Folders and image files dropped on the window: a project folder opens, anything else is
added to the project on screen (unlabeled, by reference)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData

from isegui.core.project import project_exists
from isegui.gui.workers.add_images_worker import AddImagesJob


def dropped_paths(mime: QMimeData) -> list[Path]:
    """The local files and folders the drag carries (web links are not taken)."""
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


def accept_drag(event) -> None:
    """dragEnter / dragMove: take the drag when it carries local files."""
    if dropped_paths(event.mimeData()):
        event.acceptProposedAction()
    else:
        event.ignore()


def drop_on(window, event) -> None:
    paths = dropped_paths(event.mimeData())
    if not paths:
        event.ignore()
        return
    event.acceptProposedAction()
    if len(paths) == 1 and project_exists(paths[0]):  # a project folder or a team file
        window.projectRequested.emit(paths[0], None)
        return
    from isegui.gui.image_adding import start_adding
    start_adding(window, AddImagesJob(tuple(paths)))
