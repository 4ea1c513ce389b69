"""Sub-commands that bring the user's own unlabeled images in: new (a project from a folder of
images) and add (more images into a project)."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from isegui.cli.output import print_warnings, progress_bar
from isegui.core.one_line import one_line
from isegui.core.add_images import (AddReport, CheckedImage, add_images, check_images,
                                    find_images, parse_suffixes)
from isegui.core.entities import Split
from isegui.core.errors import IseguiError, ProjectError
from isegui.core.project import IMAGES_DIR, PROJECT_FILE, Project, refuse_project_file_folder
from isegui.core.store.project_data import check_class_names

EXIT_OK, EXIT_SOME_LEFT_OUT = 0, 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("new", help="make a project from a folder of your own images",
                       description="Make a project from a folder of images. They come in "
                       "unlabeled, by reference (left where they are) unless --copy. Each file "
                       "is checked first; unreadable ones are named and left out.")
    p.add_argument("dir", type=Path, help="the project folder (made if needed; it must not "
                   "hold a project yet)")
    p.add_argument("--images", type=Path, required=True, metavar="FOLDER",
                   help="the folder of images")
    p.add_argument("--classes", default="", help="class names, comma-separated: a,b,c")
    p.add_argument("--name", help="the project's name (default: the folder's)")
    _image_options(p)
    p.set_defaults(handler=run_new)

    p = sub.add_parser("add", help="add images (a folder or files) to a project, unlabeled")
    p.add_argument("dir", type=Path, help="the project folder")
    p.add_argument("sources", type=Path, nargs="+", metavar="FOLDER|FILE",
                   help="folders of images, or image files")
    p.add_argument("--split", choices=[s.value for s in Split], default=Split.TRAIN.value,
                   help="the split they go into (default train)")
    _image_options(p)
    p.set_defaults(handler=run_add)


def _image_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--copy", action="store_true", help="copy the images into the project's "
                   f"{IMAGES_DIR}/ folder (default: refer to them where they are)")
    p.add_argument("--ext", default="", help="only these extensions in folders, e.g. jpg,png "
                   "(default: every image format isegui reads)")
    p.add_argument("--no-subfolders", action="store_true",
                   help="only the folder's own files, not its subfolders")


def run_new(args) -> int:
    folder = Path(args.dir)
    refuse_project_file_folder(folder)
    if (folder / PROJECT_FILE).exists():
        raise ProjectError(f"{folder.resolve()}: already holds a project; add images to it "
                           f"with `isegui add {args.dir} FOLDER`")
    classes = list(dict.fromkeys(c.strip() for c in args.classes.split(",") if c.strip()))
    check_class_names(classes)  # before the images are checked, and nothing is made
    checked, problems = _checked(args, [args.images], folder)
    _print_problems(problems)
    if not checked:
        print(f"error: no project was made: none of the {_plural(len(problems), 'image file')}"
              f" in {args.images} could be read", file=sys.stderr)
        return EXIT_SOME_LEFT_OUT
    existed = folder.exists()
    project = Project.create(folder, args.name, classes)
    try:
        report = _add(project, checked, args.copy, Split.TRAIN)
    except BaseException:
        project.close()
        _remove_new_project(project.folder, existed)
        raise
    name = project.name
    made = [c.name for c in project.store.classes()]  # as the project holds them
    project.close()
    print(one_line(f"project {name} made in {project.folder}: "
                   f"{_summary(report, args.copy, problems)}"
                   + (f"; classes: {', '.join(made)}" if made else ""), 2000))
    return EXIT_SOME_LEFT_OUT if problems else EXIT_OK


def run_add(args) -> int:
    with Project.open(args.dir) as project:
        checked, problems = _checked(args, args.sources, project.folder)
        _print_problems(problems)
        report = _add(project, checked, args.copy, Split(args.split))
    print(_summary(report, args.copy, problems))
    return EXIT_SOME_LEFT_OUT if problems else EXIT_OK


def _checked(args, sources: list[Path], project_folder: Path
             ) -> tuple[list[CheckedImage], list[str]]:
    suffixes = parse_suffixes(args.ext)
    files = find_images(sources, recursive=not args.no_subfolders, suffixes=suffixes,
                        project_folder=project_folder)
    if not files:
        where = ", ".join(str(s) for s in sources)
        subfolders = "" if args.no_subfolders else " or its subfolders"
        raise IseguiError(f"{where}: no image files there{subfolders} (looked for "
                          f"{', '.join(suffixes)})")
    with progress_bar("checking images") as progress:
        return check_images(files, progress, sources=sources)


def _add(project: Project, checked: list[CheckedImage], copy: bool, split: Split) -> AddReport:
    with progress_bar("copying images") as progress:
        report = add_images(project, checked, copy=copy, split=split, progress=progress)
    print_warnings(report.warnings)
    return report


def _print_problems(problems: list[str]) -> None:
    for problem in problems:
        print(f"left out: {problem}", file=sys.stderr)


def _summary(report: AddReport, copy: bool, problems: list[str]) -> str:
    how = f"copied into {IMAGES_DIR}/" if copy else "by reference"
    text = f"{_plural(report.added, 'image')} added, unlabeled ({how})"
    if report.already_in_project:
        text += f", {report.already_in_project} already in the project"
    if problems:
        text += f", {_plural(len(problems), 'unreadable file')} left out (named above)"
    return text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _remove_new_project(folder: Path, existed: bool) -> None:
    """A project that could not be filled is not left behind (the folder only if made here)."""
    for name in (PROJECT_FILE, f"{PROJECT_FILE}-wal", f"{PROJECT_FILE}-shm",
                 f"{PROJECT_FILE}.lock"):
        (folder / name).unlink(missing_ok=True)
    images = folder / IMAGES_DIR
    if images.is_dir() and not any(p.is_file() for p in images.rglob("*")):
        shutil.rmtree(images, ignore_errors=True)  # the empty folders the copies left
    if not existed:
        try:
            folder.rmdir()
        except OSError:
            pass
