"""Moving a project between engines: a project file into a team's PostgreSQL database, or a
team project out into a project file. Every row is copied as stored (ids, shapes byte for
byte, run history, who changed what), in one transaction on the receiving side."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from isegui.core.store import team_images
from isegui.core.errors import ProjectError
from isegui.core.fileio import copy_new, inside_folder, writable_inside
from isegui.core.project import IMAGES_DIR, PROJECT_FILE, Project, project_exists
from isegui.core.store.project_data import Store

# parents first, so every reference finds its row; meta's schema version is the receiver's own
TABLES = ("meta", "classes", "images", "instances", "runs", "predictions")
WITH_IDS = ("classes", "images", "runs", "predictions")
RUNS_DIR = "runs"


def copy_rows(source: Store, target: Store,
              image_path: Callable[[str], str] = lambda path: path) -> dict[str, int]:
    """Every row of `source` into the empty `target`; `image_path` maps an image's stored
    path to the target's. Returns the rows copied per table."""
    if target.image_count() or target.classes():
        raise ProjectError(f"{target.path}: not empty; a project moves only into a new one")
    copied = {}
    with target.transaction():
        for table in TABLES:
            rows = source.engine.query(f"SELECT * FROM {table}")
            if table == "meta":
                rows = [r for r in rows if r["key"] != "schema_version"]
            if not rows:
                copied[table] = 0
                continue
            names = _columns(rows[0])
            values = [tuple(r[n] for n in names) for r in rows]
            if table == "images":
                where = names.index("path")
                values = [v[:where] + (image_path(v[where]),) + v[where + 1:] for v in values]
            marks = ", ".join("?" for _ in names)
            target.engine.executemany(
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", values)
            if table in WITH_IDS:
                target.engine.ids_restored(table)
            copied[table] = len(values)
    return copied


def _columns(row: object) -> list[str]:
    """A row's column names, in order (sqlite3.Row, or core.store.engine.Row from PostgreSQL)."""
    names = getattr(row, "names", None)
    if isinstance(names, dict):
        return sorted(names, key=names.__getitem__)
    return list(row.keys())  # type: ignore[attr-defined]


def project_to_team(folder: Path, url: str, name: str, team_file: Path,
                    images_in_database: bool = False) -> dict[str, int]:
    """A project folder into a new team project `name`: its folder becomes the team's image
    root (the images stay where they are, under the same relative paths; with
    `images_in_database` their files are stored in the database too)."""
    folder = Path(folder).resolve()
    with Project.open(folder, read_only=True) as source:
        team = Project.create_team(url, name, folder, team_file, images_in_database)
        try:
            with team.store.transaction():
                team.store.engine.execute("DELETE FROM meta WHERE key <> 'schema_version'")
                copied = copy_rows(source.store, team.store)
                team.store.set_meta("name", name)
                if images_in_database:
                    team_images.enable(team.store)  # its mark went with the other meta
                    team.keep_image_files([r.path for r in team.store.images()])
            return copied
        finally:
            team.close()


def team_to_project(team_file: Path, folder: Path) -> dict[str, int]:
    """A team project into a new project folder: image paths are made relative to it, and
    the runs' files are copied along."""
    folder = Path(folder).resolve()
    if project_exists(folder):
        raise ProjectError(f"{folder}: already holds a project")
    with Project.open(team_file, read_only=True) as source:
        target = Project.create(folder)
        try:
            def local(stored: str) -> str:
                file = source.image_path(stored)
                if source.image_files is not None:  # the database's copy: into the folder
                    file = _copy_in(file, folder / IMAGES_DIR, Path(stored).name)
                return target.stored_path(file)
            with target.store.transaction():
                target.store.engine.execute("DELETE FROM meta WHERE key <> 'schema_version'")
                copied = copy_rows(source.store, target.store, local)
            _copy_runs(source.folder, folder)
        except BaseException:
            target.close()
            for made in _PROJECT_FILES:  # what Project.create made, nothing of the user's
                (folder / made).unlink(missing_ok=True)
            raise
        target.close()
        return copied


# the files Project.create makes (the project file and SQLite's journals beside it)
_PROJECT_FILES = (PROJECT_FILE, f"{PROJECT_FILE}-wal", f"{PROJECT_FILE}-shm",
                  f"{PROJECT_FILE}-journal")


def _copy_in(file: Path, images: Path, name: str) -> Path:
    """`file` copied into `images` as `name` (another name where that is taken); nothing is
    written through a link out of the project folder (`images`' parent)."""
    inside_folder(images.parent, images)
    images.mkdir(parents=True, exist_ok=True)
    target, n = images / name, 1
    while target.exists() or target.is_symlink():
        target = images / f"{Path(name).stem}-{n}{Path(name).suffix}"
        n += 1
    copy_new(file, writable_inside(images.parent, target))
    return target


def _copy_runs(source_root: Path, folder: Path) -> None:
    """The runs' checkpoints and logs (stored relative to the project, as runs/NNNN/...),
    into a runs/ folder that is not there yet (so nothing in it can lead out)."""
    runs, target = source_root / RUNS_DIR, folder / RUNS_DIR
    if not runs.is_dir() or runs.resolve() == inside_folder(folder, target).resolve():
        return
    if target.exists() or target.is_symlink():
        raise ProjectError(f"{target}: already there; isegui copies the team's runs into a "
                           "project folder without one (choose an empty folder)")
    shutil.copytree(runs, target, symlinks=True)

