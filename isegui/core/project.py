"""A project: a folder holding `project.isegui` (the store) and, when copied in, its images;
or a team project: a `NAME.isegui-team` file naming its PostgreSQL store (core.store.team), its
folder the team's image root as this PC sees it."""

from __future__ import annotations

import logging
import math
import os
import uuid
from pathlib import Path, PurePosixPath

from isegui.core.errors import (DamagedRow, OlderSchemaError, ProjectError, ProjectLockedError,
                                 ProjectNotFoundError)
from isegui.core.fileio import writable_inside
from isegui.core.measure import MAX_MM_PER_PX, MIN_MM_PER_PX
from isegui.core.one_line import one_line
from isegui.core.store import Store, now_iso
from isegui.core.store import team_images
from isegui.core.store.lock import ProjectLock
from isegui.core.store.project_data import check_class_names
from isegui.core.store.shares import is_network_path
from isegui.core.store.team import (TEAM_SUFFIX, TeamRef, checked_url, drop_team_project,
                              open_team_store, schema_name)
from isegui.core.store.team_images import ImageFiles

PROJECT_FILE = "project.isegui"
# the store's file and SQLite's journals beside it
STORE_FILES = (PROJECT_FILE, f"{PROJECT_FILE}-wal", f"{PROJECT_FILE}-shm",
               f"{PROJECT_FILE}-journal")
IMAGES_DIR = "images"
# the project's own folders that never hold images to add (runs' checkpoints, weights files)
PROJECT_INTERNALS = ("runs", "pretrained")
CLICK_MODEL_FILE = "click_model.pt"  # the project's click model (ml.click), when trained
LABELING_LOG_FILE = "labeling_log.jsonl"  # what each added instance cost (core.labeling_log)

log = logging.getLogger(__name__)

class Project:
    """An open project. Open for editing (the default) holds the project's lock, so a second
    editor gets a clear error; read-only opens take no lock and cannot write."""

    def __init__(self, folder: Path, store: Store, lock: ProjectLock | None,
                 team_file: Path | None = None):
        self.folder = folder
        self.store = store
        self._lock = lock
        self.team_file = team_file  # None for a project file
        # a team project that keeps its images in its database (core.store.team_images)
        self.image_files = ImageFiles(store, folder) if team_file is not None and \
            team_images.enabled(store) else None

    @property
    def is_team(self) -> bool:
        return self.team_file is not None

    # ------------------------------------------------------------------ open / create

    @classmethod
    def create(cls, folder: str | Path, name: str | None = None,
               classes: tuple[str, ...] | list[str] = ()) -> Project:
        """A new project in `folder`, with `classes` in this order."""
        folder = Path(folder).resolve()
        refuse_project_file_folder(folder)
        if (folder / PROJECT_FILE).exists():
            raise ProjectError(f"{folder}: already holds a project; open it instead")
        check_class_names(classes)  # before anything is made: a refused name leaves nothing
        folder.mkdir(parents=True, exist_ok=True)
        project = cls._open(folder, read_only=False, lock=True, create=True)
        try:
            project.store.set_meta("name", name or folder.name)
            project.store.set_meta("project_id", uuid.uuid4().hex)
            project.store.set_meta("created", now_iso())
            project.store.ensure_classes(classes)
        except BaseException:
            project.close()
            raise
        return project

    @classmethod
    def open(cls, folder: str | Path, *, read_only: bool = False,
             lock: bool = True) -> Project:
        """`lock=False` is for background workers (a training process recording its run)
        that write beside an editor who holds the lock; SQLite keeps their writes apart.
        `folder` may be a team file: the team's store is opened (no lock: the server keeps
        several writers apart)."""
        folder = Path(folder).resolve()
        if folder.suffix == TEAM_SUFFIX and folder.is_file():
            return cls.open_team(folder, read_only=read_only)
        refuse_project_file_folder(folder)
        if not (folder / PROJECT_FILE).is_file():
            raise ProjectNotFoundError(
                f"{folder}: not an isegui project (no {PROJECT_FILE} there); make one from a "
                "folder of images with `isegui new DIR --images FOLDER` (in the app: File > New "
                "project…), from labeled data with `isegui import`, or try `isegui demo DIR`")
        if not lock and not read_only:
            _refuse_if_edited_elsewhere(folder)
        try:
            return cls._open(folder, read_only=read_only, lock=lock and not read_only)
        except OlderSchemaError:
            if not read_only:
                raise
        # written by an earlier isegui: brought up to date once (with its backup beside it),
        # as opening it for editing would, when nobody has it open; then read
        cls._open(folder, read_only=False, lock=True).close()
        return cls._open(folder, read_only=True, lock=False)

    @classmethod
    def open_team(cls, team_file: Path, *, read_only: bool = False) -> Project:
        ref = TeamRef.read(team_file)
        if not ref.images.is_dir():
            raise ProjectError(f"{team_file}: the team's image folder {ref.images} is not "
                               "there on this PC; map the share, or point the file's "
                               "\"images\" at where this PC sees it")
        store = open_team_store(ref.url, ref.project, read_only=read_only)
        return cls(ref.images, store, None, team_file=team_file)

    @classmethod
    def create_team(cls, url: str, name: str, images: str | Path,
                    team_file: str | Path, images_in_database: bool = False) -> Project:
        """A new team project `name` in the database at `url`, its images under `images`,
        and the team file that opens it. `images_in_database`: the image files are kept in
        the database too, and `images` is this PC's folder for them."""
        images, team_file = Path(images).resolve(), Path(team_file).resolve()
        checked_url(url)  # all that can be checked first is, before the database is touched
        schema_name(name)
        if not images.is_dir():
            raise ProjectError(f"{images}: not a folder (the team's image root)")
        if team_file.exists():
            raise ProjectError(f"{team_file}: already there; open it instead")
        if not team_file.parent.is_dir():
            raise ProjectError(f"{team_file.parent}: no such folder for the team file")
        ref = TeamRef(url, name, images)
        store = open_team_store(url, name, create=True)
        project = cls(images, store, None, team_file=team_file)
        try:
            store.set_meta("name", name)
            store.set_meta("project_id", uuid.uuid4().hex)
            store.set_meta("created", now_iso())
            if images_in_database:
                team_images.enable(store)
                project.image_files = ImageFiles(store, images)
            ref.write(team_file)
        except BaseException:
            drop_team_project(store, name)  # made, but nobody could open it: not kept
            project.close()
            raise
        return project

    @classmethod
    def open_or_create(cls, folder: str | Path) -> Project:
        return cls.open(folder) if project_exists(folder) else cls.create(folder)

    @classmethod
    def _open(cls, folder: Path, *, read_only: bool, lock: bool,
              create: bool = False) -> Project:
        # SQLite writes through a link as through the file: a project file or journal copied
        # in as a link to elsewhere (symbolic, or a hard link: the same file under another
        # name) would change that file (the lock checks its own)
        for name in STORE_FILES:
            if (folder / name).is_symlink() or (folder / name).exists():
                writable_inside(folder, folder / name)
        held = None
        if lock:
            held = ProjectLock(folder / f"{PROJECT_FILE}.lock")
            held.acquire()
        try:
            store = Store(folder / PROJECT_FILE, read_only=read_only, create=create,
                          on_share=is_network_path(folder))
        except BaseException:
            if held:
                held.release()
            raise
        return cls(folder, store, held)

    def close(self) -> None:
        self.store.close()
        if self._lock:
            self._lock.release()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ properties

    @property
    def name(self) -> str:
        return self.store.meta("name") or self.folder.name

    @property
    def mm_per_px(self) -> float | None:
        """The calibration: millimetres per pixel, or None when not calibrated. A stored value
        isegui never writes (another program changed the file, or a team member the table):
        DamagedRow naming the project file, never a negative or NaN size in millimetres."""
        value = self.store.meta("mm_per_px")
        if value is None:
            return None
        try:
            mm = float(value)
        except (TypeError, ValueError):
            mm = math.nan
        if not MIN_MM_PER_PX <= mm <= MAX_MM_PER_PX:  # NaN too
            shown = one_line(repr(value), 40)
            raise DamagedRow(f"{self.store.path}: its calibration is stored as {shown}, not "
                             f"a number from {MIN_MM_PER_PX:g} to {MAX_MM_PER_PX:g} mm per "
                             "pixel; set it again with isegui calibrate (--mm-per-px X, or "
                             "--clear)")
        return mm

    def set_calibration(self, mm_per_px: float | None) -> None:
        if mm_per_px is not None and not MIN_MM_PER_PX <= mm_per_px <= MAX_MM_PER_PX:
            raise ValueError(f"mm per pixel must be from {MIN_MM_PER_PX:g} to "
                             f"{MAX_MM_PER_PX:g}, got {mm_per_px}")
        self.store.set_meta("mm_per_px", None if mm_per_px is None else repr(float(mm_per_px)))

    @property
    def active_run_id(self) -> int | None:
        """The run Review, predict, suggest and export-model use unless told another. A stored
        value that is no run id (another program changed the file): DamagedRow naming the
        project file, not int()'s words naming none."""
        value = self.store.meta("active_run_id")
        if value is None:
            return None
        if not (isinstance(value, str) and value.isascii() and value.isdigit()
                and len(value) <= 10):
            raise DamagedRow(f"{self.store.path}: its active run is stored as "
                             f"{one_line(repr(value), 40)}, not a run id; name the run "
                             "(--run RUN), or make one active again (a finished training run, "
                             "or the Training panel)")
        return int(value)

    def active_run_id_or_none(self) -> int | None:
        """active_run_id, a damaged one taken as none (and said in the log): for a run's end,
        which then puts a real id there, rather than failing after the run is done."""
        try:
            return self.active_run_id
        except DamagedRow as exc:
            log.warning("%s", exc)
            return None

    def set_active_run(self, run_id: int | None) -> None:
        self.store.set_meta("active_run_id", None if run_id is None else str(run_id))

    # ------------------------------------------------------------------ paths

    def image_path(self, stored: str) -> Path:
        """The file of an image record's path: in the project's folder, or for a team that
        keeps its images in the database and a file this PC lacks, its local copy."""
        path = self._in_folder(stored)
        if self.image_files is not None and not path.is_file():
            return self.image_files.local_copy(stored) or path
        return path

    def _in_folder(self, stored: str) -> Path:
        path = Path(stored)
        return path if path.is_absolute() else self.folder / path

    def keep_image_files(self, stored_paths: list[str]) -> None:
        """In a team that keeps its images in the database, store these newly recorded
        images' files there (inside the caller's transaction); elsewhere nothing to do."""
        if self.image_files is not None:
            self.image_files.upload(stored_paths, [self._in_folder(p) for p in stored_paths])

    def stored_path(self, file: Path) -> str:
        """How an image file is recorded: relative to the project folder with "/" separators
        (even outside it, as ../), absolute only where no relative path exists (another
        drive on Windows)."""
        file = Path(file).resolve()
        try:
            rel = os.path.relpath(file, self.folder)
        except ValueError:
            return file.as_posix()
        return PurePosixPath(*Path(rel).parts).as_posix()


def refuse_project_file_folder(folder: Path) -> None:
    """ProjectError, in one line, where a folder has the project file's name (a sync tool or a
    bad copy made one): no project to open, and no room to make one."""
    file = Path(folder) / PROJECT_FILE
    if file.is_dir():
        raise ProjectError(f"{file}: a folder, not a project file; move or rename it")


# the store, SQLite's journals, the lock and the project's own files: no image is ever
# written onto one of them or removed in its place, whatever names a dataset uses (SQLite's
# empty WAL was once taken for a copy cut short and removed while the project was open)
OWN_FILES = (*STORE_FILES, f"{PROJECT_FILE}.lock", CLICK_MODEL_FILE, LABELING_LOG_FILE)


def is_own_file(folder: Path, path: Path) -> bool:
    """Whether `path` is, every link followed, one of the project's own files in `folder`."""
    real = os.path.realpath(path)
    return any(real == os.path.realpath(folder / name) for name in OWN_FILES)


def project_exists(path: str | Path) -> bool:
    """A project folder (it holds the project file) or a team file."""
    path = Path(path)
    return (path / PROJECT_FILE).is_file() or (path.suffix == TEAM_SUFFIX and path.is_file())


def _refuse_if_edited_elsewhere(folder: Path) -> None:
    """A writer that works beside the editor (training, predictions into the project) writes
    only when the editor is on this PC: on a shared folder, another PC's editor holds the
    lock, and two hosts must never write one SQLite file."""
    lock = ProjectLock(folder / f"{PROJECT_FILE}.lock")
    if lock.held_elsewhere():
        raise ProjectLockedError(
            f"{folder}: the project is open for editing on another PC{lock.holder()}; "
            "close it there first, or work on a copy")
