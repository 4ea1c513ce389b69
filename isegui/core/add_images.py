"""The inspector's own photos into a project, unlabeled: find the files (folders walked), check
that each one decodes (the slow part: a plain function a worker thread can run and stop), plan
where each goes (by reference, or copied into the project's images/ folder without overwriting
anything), then record them all in one transaction.

Only what can be recorded is: a FIFO, socket or device named like an image (opening one would
wait for ever) and a name that is no UTF-8 text are left out and named with the problem, like
an unreadable file; a copy's name grows ("-2") only within the 255 bytes a name may have; and
a copy is never written through a link out of the project (an images/ folder copied from
elsewhere)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Protocol

from isegui.core.entities import ImageRecord, ImageStatus, Split
from isegui.core.errors import InputFileError
from isegui.core.fileio import (copy_new, cut_copy_of, fitted_name, folded_name,
                                not_regular_problem, same_bytes, utf8_problem, writable_inside)
from isegui.core.images import IMAGE_SUFFIXES, verify_image
from isegui.core.one_line import one_line
from isegui.core.progress import Progress, no_progress
from isegui.core.project import (IMAGES_DIR, PROJECT_FILE, PROJECT_INTERNALS, Project,
                                 is_own_file)
from isegui.core.store import Store

Stop = Callable[[], bool]


class StoredFile(Protocol):
    """A planned image of any kind: the file, and the path its record will keep."""
    @property
    def file(self) -> Path: ...
    @property
    def stored(self) -> str: ...


@dataclass(frozen=True)
class CheckedImage:
    file: Path  # absolute
    name: PurePosixPath  # below the folder it was found in (a copy keeps it), else its name
    width: int  # after EXIF orientation
    height: int
    pictures: int = 1  # of the first's size in the file (ImageInfo.pictures)


@dataclass(frozen=True)
class PlannedImage:
    file: Path
    stored: str  # the image record's path
    width: int
    height: int
    copy: bool  # the file must first be copied to the project folder / stored


@dataclass
class AddReport:
    added: int = 0
    already_in_project: int = 0
    problems: list[str] = field(default_factory=list)  # "FILE: message" per file left out
    warnings: list[str] = field(default_factory=list)
    records: list[ImageRecord] = field(default_factory=list)


def parse_suffixes(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """"jpg, .PNG" -> (".jpg", ".png"); nothing given -> every image suffix isegui reads."""
    parts = text.replace(";", ",").split(",") if isinstance(text, str) else list(text or ())
    found = tuple(dict.fromkeys("." + p.strip().lower().lstrip(".") for p in parts
                                if p.strip().strip(".")))
    return found or IMAGE_SUFFIXES


def find_images(sources: Iterable[Path], *, recursive: bool = True,
                suffixes: Iterable[str] = IMAGE_SUFFIXES,
                project_folder: Path | None = None) -> list[Path]:
    """The image files in `sources`, in order, each once. Folders are walked (subfolders when
    `recursive`, sorted by name; hidden files and folders skipped) and keep the files whose
    suffix is in `suffixes` (any case); files named directly are taken as they are, for the
    check to judge. Inside `project_folder` its runs and weights are skipped, and a project
    found inside a source folder is skipped whole: its files are already the project's."""
    wanted = {s.lower() for s in suffixes}
    project = Path(project_folder).resolve() if project_folder else None
    found: dict[Path, None] = {}
    for source in sources:
        source = Path(source)
        if source.is_dir():
            for file in _walk(source.resolve(), recursive, project):
                if file.suffix.lower() in wanted:
                    found.setdefault(file)
        elif source.exists():  # a file, or a FIFO or device for the check to name
            found.setdefault(source.resolve())
        else:
            raise InputFileError(source, "not found (neither a folder nor a file)")
    return list(found)


MAX_DEPTH = 64  # folders inside folders; deeper ones are named and left out


def _walk(root: Path, recursive: bool, project: Path | None) -> Iterable[Path]:
    """The files under `root` in name order, folder by folder, without recursion (os.walk
    of Python 3.11 recurses: a tree 1,900 deep raised RecursionError)."""
    stack = [(root, 0)]
    while stack:
        here, depth = stack.pop()
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError:
            continue  # unreadable: as os.walk, the others are added
        yield from (Path(e.path) for e in entries  # a link to a folder is no file
                    if not e.name.startswith(".") and not _is_dir(e, follow=True))
        if not recursive:
            continue
        subfolders = [Path(e.path) for e in entries if _is_dir(e, follow=False)
                      and _keep_dir(Path(e.path), root, project)]  # links not followed
        if subfolders and depth + 1 > MAX_DEPTH:
            raise InputFileError(here, f"folders nested over {MAX_DEPTH} deep; add a folder "
                                       "nearer the images")
        stack.extend((sub, depth + 1) for sub in reversed(subfolders))


def _is_dir(entry: os.DirEntry[str], follow: bool) -> bool:
    try:
        return entry.is_dir(follow_symlinks=follow)
    except OSError:
        return False


def _keep_dir(folder: Path, root: Path, project: Path | None) -> bool:
    if folder.name.startswith("."):
        return False
    if folder == project and folder != root:
        return False
    if folder.parent == project and folder.name in PROJECT_INTERNALS:
        return False
    return not (folder / PROJECT_FILE).is_file()  # another project: not this one's images


def check_images(files: list[Path], progress: Progress = no_progress, *,
                 sources: Iterable[Path] = (), stop: Stop = lambda: False
                 ) -> tuple[list[CheckedImage], list[str]]:
    """Decode every file (EXIF orientation applied to the size; too-large images refused).
    Returns the readable ones and a "FILE: problem" line per other one. `stop()` returning
    True ends it early with what was checked so far. `sources` are the folders the files were
    found in: a copy keeps the path below its folder."""
    roots = sorted((Path(s).resolve() for s in sources if Path(s).is_dir()),
                   key=lambda p: -len(p.parts))
    checked: list[CheckedImage] = []
    problems: list[str] = []
    for n, file in enumerate(files, start=1):
        if stop():
            break
        result = _check_one(Path(file), roots)
        if isinstance(result, str):
            problems.append(result)
        else:
            checked.append(result)
        progress(n, len(files), one_line(file))
    return checked, problems


def _check_one(file: Path, roots: list[Path]) -> CheckedImage | str:
    """The image checked, or "FILE: problem" when it is left out: one line, whatever the
    name or the decoder's words hold (a name with a line break would print a line of its
    own, looking like isegui's)."""
    problem = utf8_problem(file) or _not_a_file(file)
    if problem is not None:
        return _left_out(file, problem)
    try:
        info = verify_image(file)
    except InputFileError as exc:
        return _left_out(file, exc.problem)
    except Exception as exc:  # one odd file must not stop the other hundreds
        return _left_out(file, f"cannot read the image ({exc})")
    return CheckedImage(file, _name_below(file, roots), info.width, info.height,
                        info.pictures)


def _left_out(file: Path, problem: str) -> str:
    return f"{one_line(file)}: {one_line(problem)}"


def _not_a_file(file: Path) -> str | None:
    """Why `file` is not opened at all (a FIFO would keep the open waiting), or None."""
    try:
        return not_regular_problem(file.stat().st_mode)
    except OSError:
        return None  # gone or unreadable: the check says so in its words


def _name_below(file: Path, roots: list[Path]) -> PurePosixPath:
    for root in roots:  # the deepest folder holding the file
        if file.is_relative_to(root):
            return PurePosixPath(*file.relative_to(root).parts)
    return PurePosixPath(file.name)


def plan_images(project: Project, checked: list[CheckedImage], existing: set[str], *,
                copy: bool = False) -> tuple[list[PlannedImage], int]:
    """Where each image goes, and how many are already in the project (`existing`: the
    stored paths of its images). Copies go to images/NAME, or NAME-2, -3 ... where a
    different file has that name; a file already inside the project folder is not copied."""
    plans: list[PlannedImage] = []
    claimed = set(existing)
    # NTFS does not tell A.png from a.png, nor a Mac é.png spelled NFC from NFD
    folded = {folded_name(name) for name in existing}
    already = 0
    for image in checked:
        own = project.stored_path(image.file)
        if own in claimed:
            already += 1
            continue
        stored: str | None
        if not copy or not _outside(own):
            stored, needs_copy = own, False
        else:
            stored, needs_copy = _copy_target(project.folder, image, existing, folded)
            if stored is None:
                already += 1
                continue
        claimed.add(stored)
        folded.add(folded_name(stored))
        plans.append(PlannedImage(image.file, stored, image.width, image.height, needs_copy))
    return plans, already


def _absolute(stored: str) -> bool:
    """Stored by absolute path: another drive than the project's (D:/..., or /... elsewhere)."""
    return stored.startswith("/") or PureWindowsPath(stored).is_absolute()


def _outside(stored: str) -> bool:
    return stored.startswith("../") or _absolute(stored)


def picture_warnings(checked: Sequence[CheckedImage]) -> list[str]:
    """Files holding several pictures (a TIFF stack, an animated WebP), of which isegui
    labels only the first: said, with the first few named."""
    several = [c for c in checked if c.pictures > 1]
    if not several:
        return []
    named = "; ".join(f"{one_line(c.file)} ({c.pictures})" for c in several[:3])
    more = f"; and {len(several) - 3} more" if len(several) > 3 else ""
    return [f"{len(several)} file(s) hold several pictures of the same size, pages or frames: "
            f"only the first of each is shown and labelled ({named}{more}); to label the "
            "others, save each page as an image of its own"]


def path_warnings(plans: Sequence[StoredFile], on_share: bool = False) -> list[str]:
    """What the recorded paths of planned images (anything with `.stored` and `.file`) put at
    risk: absolute paths do not move with the project; and on a network share, images outside
    the project's folder are found by the other PCs only where they see that folder too."""
    warnings = []
    absolute = [p for p in plans if _absolute(p.stored)]
    if absolute:
        warnings.append(f"images on another drive than the project are recorded by absolute "
                        f"path ({len(absolute)}; the first: {one_line(absolute[0].file)}): "
                        "moving the project to another PC leaves them behind; copying them "
                        "into the project avoids that")
    outside = [p for p in plans if _outside(p.stored)]
    if on_share and outside:
        warnings.append(f"the project is on a network share, but {len(outside)} image(s) stay "
                        f"outside its folder (the first: {one_line(outside[0].file)}): the "
                        "other PCs find them only if they reach that folder by the same path; "
                        "copy them into the project (--copy) to be sure")
    return warnings


def _copy_target(folder: Path, image: CheckedImage, existing: set[str],
                 claimed: set[str]) -> tuple[str | None, bool]:
    """(stored path, copy needed), or (None, False) when this very file is in the project.
    `claimed`: the stored paths taken, folded (two names that differ in case only are
    one file on Windows)."""
    target = PurePosixPath(IMAGES_DIR, image.name)
    candidate, k = target, 1
    while True:
        name = candidate.as_posix()
        path = folder / candidate
        own = is_own_file(folder, path)  # images/ a link to the project folder: not these
        if not own and path.exists() and name not in existing and \
                folded_name(name) not in claimed and cut_copy_of(path, image.file):
            path.unlink()  # an add killed while copying it: copied again, whole
        if own or path.exists():
            if not own and same_bytes(path, image.file):
                if name in existing:
                    return None, False
                if folded_name(name) not in claimed:
                    return name, False  # the copy is already there, unrecorded: use it
        elif folded_name(name) not in claimed:
            return name, True
        k += 1  # a different file of that name: keep both
        candidate = target.with_name(fitted_name(target.stem, f"-{k}{target.suffix}"))




def copy_planned(folder: Path, plans: list[PlannedImage], progress: Progress = no_progress,
                 *, stop: Stop = lambda: False) -> list[Path]:
    """Copy the planned files into the project folder; returns the files made. Nothing is
    overwritten. On an error, or when `stop()` says so, the copies made are removed again
    (a stop returns an empty list)."""
    created: list[Path] = []
    todo = [p for p in plans if p.copy]
    try:
        for n, plan in enumerate(todo, start=1):
            if stop():
                remove_files(created)
                return []
            target = writable_inside(folder, folder / plan.stored)
            copy_new(plan.file, target)
            created.append(target)
            progress(n, len(todo), str(plan.file))
    except BaseException:
        remove_files(created)
        raise
    return created


def remove_files(files: Iterable[Path]) -> None:
    for file in files:
        file.unlink(missing_ok=True)


def write_images(store: Store, plans: list[PlannedImage], split: Split = Split.TRAIN,
                 val_every: int = 0) -> list[ImageRecord]:
    """Record the planned images, unlabeled, in one transaction; with `val_every` n, one in
    n of them (spread through the list) goes to the val split instead."""
    with store.transaction():
        return [store.add_image(p.stored, p.width, p.height, held_out(k, val_every, split),
                                ImageStatus.UNLABELED) for k, p in enumerate(plans)]


def held_out(index: int, val_every: int, split: Split) -> Split:
    """The split of the index-th image added when one in `val_every` is held out for
    validation (the middle one of each run of val_every: 4 images already give one)."""
    if val_every > 1 and index % val_every == val_every // 2:
        return Split.VAL
    return split


def add_images(project: Project, checked: list[CheckedImage], *, copy: bool = False,
               split: Split = Split.TRAIN, progress: Progress = no_progress) -> AddReport:
    """Plan, copy when asked, and record in one transaction; a failed transaction removes the
    copies it made. Images already in the project are counted, not added again."""
    existing = {r.path for r in project.store.images()}
    plans, already = plan_images(project, checked, existing, copy=copy)
    report = AddReport(already_in_project=already, warnings=picture_warnings(
        checked) + path_warnings(plans, project.store.on_share))
    created = copy_planned(project.folder, plans, progress)
    try:
        with project.store.transaction():
            report.records = write_images(project.store, plans, split)
            project.keep_image_files([p.stored for p in plans])
    except BaseException:
        remove_files(created)
        raise
    report.added = len(report.records)
    return report
