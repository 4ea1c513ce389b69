"""Finding, checking and copying the images to add, in a thread of its own: decoding a few
hundred photos takes a while. The worker never touches the store; the window records the
result (one undoable step) when it arrives."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QThread, Signal

from isegui.core.add_images import (PlannedImage, check_images, copy_planned, find_images,
                                    path_warnings, picture_warnings, plan_images)
from isegui.core.entities import Split
from isegui.core.errors import IseguiError
from isegui.core.images import IMAGE_SUFFIXES
from isegui.core.project import Project


@dataclass(frozen=True)
class AddImagesJob:
    """What to add and how: the options of File > Add images… and File > New project…"""
    sources: tuple[Path, ...]
    recursive: bool = True
    suffixes: tuple[str, ...] = IMAGE_SUFFIXES
    copy: bool = False
    split: Split = Split.TRAIN
    val_every: int = 0  # one in this many images goes to val (0: none); a new project's 7


@dataclass
class AddImagesResult:
    plans: list[PlannedImage] = field(default_factory=list)
    already_in_project: int = 0
    problems: list[str] = field(default_factory=list)
    copies: list[Path] = field(default_factory=list)  # files this job made
    warnings: list[str] = field(default_factory=list)
    found: int = 0
    cancelled: bool = False
    error: str | None = None  # what stopped the whole job (a source folder not found)


class AddImagesWorker(QThread):
    progress = Signal(str, int, int)  # phase, done, total
    done = Signal(object)  # AddImagesResult

    def __init__(self, project: Project, job: AddImagesJob, existing: set[str]):
        super().__init__()
        self.project, self.job, self.existing = project, job, existing
        self.result: AddImagesResult | None = None
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True

    def cancelled(self) -> bool:
        return self._cancelled

    def run(self) -> None:
        result = AddImagesResult()
        try:
            self._work(result)
        except (IseguiError, OSError) as exc:
            result.error = str(exc)
        result.cancelled = self._cancelled
        self.result = result
        self.done.emit(result)

    def _work(self, result: AddImagesResult) -> None:
        job = self.job
        self.progress.emit("Looking for images", 0, 0)
        files = find_images(job.sources, recursive=job.recursive, suffixes=job.suffixes,
                            project_folder=self.project.folder)
        result.found = len(files)
        checked, result.problems = check_images(
            files, lambda done, total, what: self.progress.emit("Checking", done, total),
            sources=job.sources, stop=self.cancelled)
        if self._cancelled:
            return
        result.plans, result.already_in_project = plan_images(
            self.project, checked, self.existing, copy=job.copy)
        result.warnings = picture_warnings(checked) + path_warnings(
            result.plans, self.project.store.on_share)
        result.copies = copy_planned(
            self.project.folder, result.plans,
            lambda done, total, what: self.progress.emit("Copying", done, total),
            stop=self.cancelled)
