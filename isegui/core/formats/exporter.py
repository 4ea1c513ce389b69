"""Write a project's labels (or a run's predictions) as a dataset in one of the formats.

The dataset is built in a temporary folder beside the destination and moved into place at the
end, so a failed export leaves nothing half written; an existing, non-empty destination is
never touched. The images copied in are the project's: a record inside the project whose file
is a link out of it (a folder copied from elsewhere) is refused, and images recorded by
reference outside the folder are copied with a note saying so. Names in the dataset keep room
for the label file beside them within the 255 bytes a file name may have.
"""

from __future__ import annotations

import errno
import glob
import os
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from isegui.core.entities import ImageRecord, Instance, LabelClass, Split
from isegui.core.errors import IseguiError
from isegui.core.fileio import (NAME_MAX, copy_new, current_umask, fitted_name, folded_name,
                                 inside_folder, replace_file, windows_safe_part)
from isegui.core.formats import get_format
from isegui.core.formats.base import ExportImage, ExportReport
from isegui.core.images import probe
from isegui.core.progress import Progress, no_progress
from isegui.core.project import IMAGES_DIR, PROJECT_INTERNALS, Project
from isegui.core.store.lock import ProjectLock


UNCLASSIFIED = "unclassified"
# bytes a label file's suffix may add to an image's stem (".json", ".txt", a masks suffix)
LABEL_ROOM = 16
WORK_LOCK = ".isegui-export.lock"  # in an export's work folder while it is written


class ExportError(IseguiError):
    pass


def export_dataset(project: Project, format_name: str, dest: str | Path, *,
                   split: Split | None = None, predictions: bool = False,
                   run_id: int | None = None, copy_images: bool = True,
                   progress: Progress = no_progress, **format_options: Any) -> ExportReport:
    fmt = get_format(format_name)
    given = Path(dest)  # as the user spelled it: what a failure to write names
    if given.is_symlink():  # a dangling one would have the export made wherever it points
        raise ExportError(f"{given}: a link (to {os.readlink(given)}), not a folder; choose a "
                          "new folder (nothing was written)")
    dest = Path(dest).resolve()
    _refuse_project_internals(project.folder, dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ExportError(f"{dest}: already exists and is not an empty folder; choose a new "
                          "folder (nothing was written)")
    images = _collect(project, split, predictions, run_id)
    if not images:  # an empty dataset would read as an export that worked
        where = f"the {Split(split).value} split" if split is not None else "the project"
        raise ExportError(f"{project.folder}: {where} has no images to export (nothing was "
                          "written); isegui stats counts each split")
    if copy_images:
        missing = [str(project.image_path(i.record.path)) for i in images
                   if not i.file.is_file()]
        if missing:
            raise ExportError(f"{len(missing)} image file(s) are missing, first: {missing[0]}; "
                              "export with --no-images to write the labels only")
    report = ExportReport()
    if copy_images:
        _check_sources(project.folder, images, report)
        _refuse_replaced(images)
    classes = project.store.classes()
    if fmt.name != "masks":  # the masks format keeps them as they are (void in the class image)
        images, classes = _name_unclassified(images, classes, report)
    prefix = fitted_name(f".{dest.name}", ".", NAME_MAX - 8)  # mkdtemp adds 8 characters
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_work(dest.parent, prefix)
        work = Path(tempfile.mkdtemp(prefix=prefix, dir=dest.parent))
    except OSError as exc:
        raise _cannot_write(exc, given, dest, None) from None
    owner = ProjectLock(work / WORK_LOCK)  # held while this export lives (a kill frees it)
    try:
        owner.try_acquire()
        if os.name != "nt":  # mkdtemp's folder is private (0700); the export is a normal one
            os.chmod(work, 0o777 & ~current_umask())
        fmt.write(work, images, classes, report, **format_options)
        if copy_images:
            for n, image in enumerate(images, start=1):
                copy_new(image.file, work / fmt.image_path(image.file_name, image.record.split))
                progress(n, len(images), image.file_name)
        if dest.exists():
            dest.rmdir()  # empty, checked above
        owner.release()
        (work / WORK_LOCK).unlink()
        # tried again for a moment: Windows refuses while a scanner holds a file in it open
        replace_file(work, dest)
    except BaseException as exc:
        owner.release()
        shutil.rmtree(work, ignore_errors=True)
        if isinstance(exc, OSError):
            raise _cannot_write(exc, given, dest, work) from None
        raise
    report.files = [dest / f.relative_to(work) for f in report.files]
    return report


def _refuse_project_internals(project_folder: Path, dest: Path) -> None:
    """An export into the project's images (a dataset there is taken for images to add) or
    its runs and weights folders, which the project manages, is refused."""
    root = project_folder.resolve()
    for name in (IMAGES_DIR, *PROJECT_INTERNALS):
        if dest.is_relative_to(root / name):
            raise ExportError(f"{dest}: inside the project's own {name} folder, which the "
                              "project manages; choose a folder outside it (nothing was "
                              "written)")


def _cannot_write(exc: OSError, given: Path, dest: Path,
                  work: Path | None) -> OSError | ExportError:
    """`exc`, met making or filling the export, as the user can act on it: naming the
    destination they gave (the hidden work folder beside it is gone by now). One naming a
    source image is left as it is."""
    where = exc.filename2 if exc.filename2 is not None else exc.filename
    shown = given
    if where is not None:
        path = Path(os.fsdecode(where))
        if work is not None and path.is_relative_to(work):
            shown = given / path.relative_to(work)
        elif not (dest.is_relative_to(path) or (work is None and path.parent == dest.parent)):
            return exc  # a source image's, or the project's (work None: mkdtemp's own name)
    blocking = next((p for p in dest.parents if p.exists() and not p.is_dir()), None)
    what = (f"{blocking} is a file, not a folder" if blocking is not None
            else "no space left on the disk" if exc.errno == errno.ENOSPC
            else str(exc.strerror or exc).lower())
    return ExportError(f"{shown}: cannot write there ({what}); nothing was written")


def _remove_abandoned_work(parent: Path, prefix: str) -> None:
    """Remove the work folders of exports to the same place that were killed (SIGKILL, a
    power cut: no clean-up ran), known by their owner lock being free; hundreds of MB each."""
    for folder in parent.glob(f"{glob.escape(prefix)}*"):
        try:
            if folder.is_symlink() or not (folder / WORK_LOCK).is_file():
                continue
            lock = ProjectLock(folder / WORK_LOCK)
            if not lock.try_acquire():
                continue  # that export goes on
            lock.release()
        except (OSError, IseguiError):  # another user's, or a link: not this export's to remove
            continue
        shutil.rmtree(folder, ignore_errors=True)


def _refuse_replaced(images: list[ExportImage]) -> None:
    """An image replaced or turned since it was labeled would go out beside labels drawn on
    another picture, and train whoever reads the export wrong: name it, write nothing."""
    for image in images:
        info = probe(image.file)  # the header only
        if (info.width, info.height) != (image.record.width, image.record.height):
            raise ExportError(f"{image.file}: the image file is {info.width}x{info.height}, "
                              f"the project knew it as {image.record.width}x"
                              f"{image.record.height}: replaced or turned since it was "
                              "labeled? Its labels no longer fit it (nothing was written; "
                              "isegui validate lists every such image)")


def _check_sources(folder: Path, images: list[ExportImage], report: ExportReport) -> None:
    """Refuse (UnsafePathError, naming the file) an image recorded inside the project whose
    file leads out of it; name in a note the images recorded outside it, by reference."""
    outside = []
    for image in images:
        named = Path(os.path.normpath(image.file))  # where the record says, no link followed
        if named.is_relative_to(folder):
            inside_folder(folder, image.file)
        else:
            outside.append(named)
    if outside:
        report.lose(f"{len(outside)} image(s) recorded outside the project folder (by "
                    f"reference) were copied from there; the first: {outside[0]}")


def _name_unclassified(images: list[ExportImage], classes: list[LabelClass],
                       report: ExportReport) -> tuple[list[ExportImage], list[LabelClass]]:
    """Formats that need a class per instance get instances without one under an extra
    class, UNCLASSIFIED: an export never drops an instance."""
    count = sum(1 for image in images for inst in image.instances
                if inst.class_id is None and not inst.crowd)
    if not count:
        return images, classes
    taken = {c.name for c in classes}
    name, k = UNCLASSIFIED, 1
    while name in taken:
        k += 1
        name = f"{UNCLASSIFIED}-{k}"
    extra = LabelClass(max((c.id for c in classes), default=0) + 1, name, "#808080")
    report.lose(f"{count} instance(s) without a class are written under the class {name!r}")
    named = [replace(image, instances=[
        replace(inst, class_id=extra.id) if inst.class_id is None and not inst.crowd else inst
        for inst in image.instances]) for image in images]
    return named, [*classes, extra]


def _collect(project: Project, split: Split | None, predictions: bool,
             run_id: int | None) -> list[ExportImage]:
    store = project.store
    if predictions and run_id is None:
        run_id = project.active_run_id
    if predictions and run_id is not None and run_id not in {r.id for r in store.runs()}:
        raise IseguiError(f"{project.folder}: no run {run_id} to export the predictions of; "
                          "there are: " + (", ".join(str(r.id) for r in store.runs()[-10:])
                                           or "none"))
    names = _unique_names(store.images(split))
    out = []
    if predictions:
        for record in store.images(split):
            preds = store.predictions(record.id, run_id)
            # lowest score at the bottom, so the surest detection wins a shared pixel
            ordered = sorted(preds, key=lambda p: p.score)
            instances = [Instance(record.id, k + 1, p.class_id, p.shape, z=k)
                         for k, p in enumerate(ordered)]
            scores = {k + 1: p.score for k, p in enumerate(ordered)}
            out.append(ExportImage(record, project.image_path(record.path), names[record.id],
                                   instances, scores))
        return out
    for record, instances in store.iter_labeled(split):
        out.append(ExportImage(record, project.image_path(record.path), names[record.id],
                               instances))
    return out


def _unique_names(records: list[ImageRecord]) -> dict[int, str]:
    """A name for each image inside the dataset: its own file name, flat; where two images
    share a file name, their project paths without the images/ folder, ../ steps or a drive
    (then a suffix, should those still collide with each other or with a folder)."""
    paths = {record.id: _path_in_dataset(record) for record in records}
    # label files are named by the image's stem (a.png and a.jpg would share a.txt), Windows
    # does not tell case apart, and macOS not é from e + a combining accent
    counts = Counter(_stem(PurePosixPath(path.name)) for path in paths.values())
    bases = {record.id: PurePosixPath(paths[record.id].name)
             if counts[_stem(PurePosixPath(paths[record.id].name))] == 1 else paths[record.id]
             for record in records}
    # a folder kept from one image's path (a.png/x.png) must not take the name of another's
    # file (a.png, or its labels a.json, a.txt): only file names get a suffix, so every
    # folder is known before a name is chosen
    folders = {folder for base in bases.values() for folder in base.parents
               if folder != PurePosixPath(".")}
    folder_names = {_folded(folder) for folder in folders}
    folder_stems = {_stem(folder) for folder in folders if folder.suffix}
    names: dict[int, str] = {}
    used: set[str] = set()
    for record in records:
        base = bases[record.id]
        name, k = _fitted(base, 1), 1
        while (_stem(name) in used or _stem(name) in folder_stems
               or _folded(name) in folder_names):
            k += 1
            name = _fitted(base, k)
        used.add(_stem(name))
        names[record.id] = name.as_posix()
    return names


def _stem(path: PurePosixPath) -> str:
    """The path without its suffix as file systems compare names: case folded (Windows,
    macOS) and normalised (macOS holds one é.png, whichever way é is spelled); Unicode's
    canonical caseless match, as folding may undo a normalisation."""
    return _folded(path.with_name(path.stem))


def _folded(path: PurePosixPath) -> str:
    """The whole path as file systems compare names (see _stem)."""
    return folded_name(path.as_posix())


def _fitted(base: PurePosixPath, k: int) -> PurePosixPath:
    """`base`, the k-th of its name ("-k" added from 2 on), its name cut to leave
    LABEL_ROOM bytes for a label file's suffix."""
    tail = f"{'' if k == 1 else f'-{k}'}{base.suffix}"
    return base.with_name(fitted_name(base.stem, tail, NAME_MAX - LABEL_ROOM))


_DRIVE = re.compile(r"^[A-Za-z]:")


def _path_in_dataset(record: ImageRecord) -> PurePosixPath:
    """Where the image goes in the dataset: its path in the project without ../ steps, a
    drive or a share (a record written on Windows holds backslashes: they separate folders
    there, and would lead out of the export on a Windows PC), under images/ no more."""
    path = PureWindowsPath(record.path) if "\\" in record.path else PurePosixPath(record.path)
    below_anchor = path.parts[1:] if path.anchor else path.parts  # no drive, share or /
    if below_anchor:  # "C:/x" or "C:x" (a drive's own folder) read as a POSIX path
        first = _DRIVE.sub("", below_anchor[0], count=1)
        below_anchor = ((first,) if first else ()) + tuple(below_anchor[1:])
    # as Windows can hold them: a colon names a stream there (a camera's time stamp 12:30:01
    # is none), CON.jpg opens the console, and a dataset is read on Windows as often as not
    parts = [windows_safe_part(p) for p in below_anchor if p not in ("..", ".")]
    if parts and parts[0] == IMAGES_DIR and len(parts) > 1:
        parts = parts[1:]
    if parts:
        return PurePosixPath(*parts)
    # nothing of the name is left: a name of its own, keeping the file's kind
    suffix = PurePosixPath(path.name).suffix.lower() or ".png"
    return PurePosixPath(f"image-{record.id}{suffix}")
