"""Bring a labeled dataset into a project: parse, check everything, then write in one
transaction. Any problem stops the import before the project (or its folder) changes."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import shapely

from isegui.core.add_images import path_warnings
from isegui.core.entities import ImageStatus, Instance, Source, Split
from isegui.core.errors import ImageReadError, ImportFailed, ShapeError, UnsafePathError
from isegui.core.fileio import (atomic_write_bytes, copy_new, cut_copy_of, folded_name,
                                 inside_folder, safe_relative, same_bytes, writable_inside)
from isegui.core.formats import get_format
from isegui.core.formats.base import Dataset, SourceImage
from isegui.core.geometry import MAX_VERTICES, clip_to_image
from isegui.core.images import IMAGE_SUFFIXES, probe, verify_image
from isegui.core.one_line import one_line
from isegui.core.progress import Progress, no_progress
from isegui.core.store.rows import MOST_WHOLE, storable_id
from isegui.core.project import IMAGES_DIR, Project, is_own_file
from isegui.core.store.project_data import MAX_CLASS_NAME, fit_class_name




@dataclass(frozen=True)
class ImportOptions:
    format: str
    source: Path
    images_root: Path | None = None  # default: where the format keeps its images
    split: Split | None = None  # default: the format's own split, else train
    copy: bool = False  # copy images into the project's images/ folder
    existing: str = "error"  # an image already in the project: error, skip or replace
    skip_missing: bool = False  # leave out images whose file is missing instead of stopping
    default_class: str | None = None  # for instances the files give no class (not ignore regions)


@dataclass
class ImportReport:
    images_added: int = 0
    images_replaced: int = 0
    images_skipped: int = 0
    instances_added: int = 0
    classes_added: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Lookup:
    """Answers readers' questions about image files under the root, from headers only."""

    def __init__(self, root: Path):
        self.root = root
        self._sizes: dict[str, tuple[int, int, int]] = {}
        self._verified: set[str] = set()
        self._stems: dict[str, list[str]] | None = None

    def size(self, file_name: str) -> tuple[int, int]:
        return self.info(file_name)[:2]

    def info(self, file_name: str) -> tuple[int, int, int]:
        """(width, height, EXIF orientation) of an image under the root, from its header."""
        if file_name not in self._sizes:
            meta = probe(self.root / file_name)
            self._sizes[file_name] = (meta.width, meta.height, meta.orientation)
        return self._sizes[file_name]

    def verified(self, file_name: str) -> tuple[int, int, int]:
        """`info`, once the whole file is known to decode (a truncated image fails here, at
        import, not later in training)."""
        if file_name not in self._verified:
            meta = verify_image(self.root / file_name)
            self._sizes[file_name] = (meta.width, meta.height, meta.orientation)
            self._verified.add(file_name)
        return self._sizes[file_name]

    def find(self, stem: str) -> str | None:
        return next(iter(self.with_stem(stem)), None)

    def with_stem(self, stem: str) -> list[str]:
        return self._by_stem().get(stem, [])

    def files(self) -> list[str]:
        return sorted(name for names in self._by_stem().values() for name in names)

    def _by_stem(self) -> dict[str, list[str]]:
        if self._stems is None:
            self._stems = {}
            for path in sorted(self.root.rglob("*")):
                if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                    rel = PurePosixPath(*path.relative_to(self.root).parts)
                    self._stems.setdefault(str(rel.with_suffix("")), []).append(rel.as_posix())
        return self._stems


@dataclass
class _Planned:
    source: SourceImage
    file: Path  # where the image is now (or will be written, for embedded image data)
    stored: str  # its path in the project
    width: int
    height: int
    replace_id: int | None = None


def import_dataset(project: Project, options: ImportOptions,
                   progress: Progress = no_progress) -> ImportReport:
    fmt = get_format(options.format)
    source = Path(options.source)
    if not source.exists():
        raise ImportFailed([f"{source}: not found"])
    if options.images_root is not None and not Path(options.images_root).is_dir():
        # a file there would have every image looked for in nothing: refused before reading
        raise ImportFailed([f"{options.images_root}: not a folder; the images are looked for "
                            "in a folder"])
    named_root = Path(os.path.abspath(options.images_root or fmt.default_image_root(source)))
    root = named_root.resolve()
    lookup = _Lookup(root)
    try:
        dataset = fmt.read(source, lookup)
    except RecursionError:  # Path.rglob of Python 3.11 recurses into every folder
        raise ImportFailed([f"{source}: folders nested too deep to be read (over ~900 "
                            "levels)"]) from None
    if options.default_class:
        _give_class(dataset, options.default_class.strip())
    report = ImportReport(warnings=list(dataset.warnings))
    folder = Path(os.path.abspath(source if source.is_dir() else source.parent))
    if options.images_root is None:  # a folder the user named is taken as named
        report.warnings += _linked_out([named_root], folder, "the images are taken")
    report.warnings += _linked_out(sorted({Path(i.origin) for i in dataset.images if i.origin}),
                                   folder, "its labels are read")
    _fit_class_names(dataset, report)
    plans, problems = _plan(project, dataset, lookup, options, report, progress)
    if problems:
        raise ImportFailed(problems)
    _refuse_targets_out(project, plans)
    report.warnings += path_warnings(plans, project.store.on_share)
    _write(project, dataset, plans, options, report)
    return report


_LINKS_NAMED = 5  # then a count


def _linked_out(paths: list[Path], folder: Path, what: str) -> list[str]:
    """A word for each of `paths` (within `folder` by name) that a link takes out of it: the
    import reads from there, which the user may not know."""
    real_folder = os.path.realpath(folder)
    out = []
    for path in paths:
        real = os.path.realpath(path)
        if path.is_relative_to(folder) and not Path(real).is_relative_to(real_folder):
            out.append(f"{path}: a link to {real}, outside {folder}; {what} from there")
    if len(out) > _LINKS_NAMED:
        out[_LINKS_NAMED:] = [f"... and {len(out) - _LINKS_NAMED} more such links"]
    return out


def _fit_class_names(dataset: Dataset, report: ImportReport) -> None:
    """Class names the store cannot hold (a line break, a control character, over 100
    characters) as names it can, each change said once."""
    fitted = {name: fit_class_name(name) for name in dataset.classes}
    changed = {old: new for old, new in fitted.items() if old != new}
    if not changed:
        return
    for old, new in changed.items():
        report.warnings.append(f"class name {one_line(old, 80)} has line breaks, control "
                               f"characters or over {MAX_CLASS_NAME} characters: imported as "
                               f"{new!r}")
    dataset.classes = list(dict.fromkeys(fitted[name] for name in dataset.classes))
    for image in dataset.images:
        for inst in image.instances:
            if inst.class_name is not None:
                inst.class_name = fitted.get(inst.class_name, fit_class_name(inst.class_name))


def _give_class(dataset: Dataset, name: str) -> None:
    if not name:
        raise ImportFailed(["--class needs a class name"])
    unclassed = [inst for image in dataset.images for inst in image.instances
                 if inst.class_name is None and not inst.crowd]
    for inst in unclassed:
        inst.class_name = name
    if unclassed:
        dataset.add_class(name)
        # the readers' "imported without a class" notes no longer hold
        dataset.warnings = [w for w in dataset.warnings if "imported without a class" not in w]


def _plan(project: Project, dataset: Dataset, lookup: _Lookup, options: ImportOptions,
          report: ImportReport, progress: Progress) -> tuple[list[_Planned], list[str]]:
    plans: list[_Planned] = []
    problems: list[str] = []
    # stored paths taken, folded (one file on Windows or a Mac): this import's and the
    # project's own, so a copy never takes a name that differs from one of theirs in case or
    # Unicode spelling only
    claimed = {folded_name(r.path) for r in project.store.images()}
    origins: dict[str, str] = {}  # stored path -> the file that labels it
    # images a team mate labels now: replacing their labels would fail the whole import
    held = {image_id: holder for image_id, holder in project.store.claims().items()
            if holder[0] != project.store.user}
    listed: set[tuple[str, str]] = set()  # (annotation file, image) pairs seen
    for n, image in enumerate(dataset.images, start=1):
        progress(n, len(dataset.images), image.file_name)
        try:  # the readers check their names; this holds for any reader: a name with ".."
            safe_relative(image.file_name)  # would put the copy outside images/
        except UnsafePathError as exc:
            problems.append(f"{image.origin}: {exc}")
            continue
        file = lookup.root / image.file_name
        if (image.origin, image.file_name) in listed:  # a COCO file with two image entries
            problems.append(f"{image.origin}: lists the image {image.file_name} twice (its "
                            "labels split between the entries); keep one entry")
            continue
        listed.add((image.origin, image.file_name))
        try:
            width, height = _checked_size(image, file, lookup)
        except ImageReadError as exc:
            if options.skip_missing and not file.exists():
                report.warnings.append(f"{file}: not found; left out")
                report.images_skipped += 1
                continue
            problems.append(str(exc))
            continue
        _fit_to_image(image, width, height, report, problems)
        real = os.path.realpath(file)
        if os.path.commonpath([real, str(lookup.root)]) != str(lookup.root):
            report.warnings.append(f"{file}: a link to {real}, outside {lookup.root}; the "
                                   "image is taken from there")
        stored = _stored_path(project, image, file, options, claimed)
        if stored in origins and origins[stored] != image.origin:
            problems.append(f"{file}: labeled by two files ({origins[stored]} and "
                            f"{image.origin}); keep one, or merge them")
            continue
        origins[stored] = image.origin
        plan = _Planned(image, file, stored, width, height)
        existing = project.store.image_by_path(stored)
        if existing is not None:
            if options.existing == "skip":
                report.images_skipped += 1
                continue
            if options.existing != "replace":
                problems.append(f"{file}: already in the project as {stored}; use "
                                "--existing skip or --existing replace")
                continue
            if existing.id in held:
                who, since = held[existing.id]
                report.warnings.append(f"{stored}: {who} is labeling it (since {since}); left "
                                       "as it is: import again once they are done")
                report.images_skipped += 1
                continue
            plan.replace_id = existing.id
        claimed.add(folded_name(stored))
        plans.append(plan)
    return plans, problems


def _fit_to_image(image: SourceImage, width: int, height: int, report: ImportReport,
                  problems: list[str]) -> None:
    """Clip each instance to its image; those wholly outside are left out, with a word."""
    kept, clipped, outside = [], 0, 0
    for k, inst in enumerate(image.instances):
        vertices = shapely.get_num_coordinates(inst.shape)
        if vertices > MAX_VERTICES:  # a bound on what one instance may cost to store and draw
            problems.append(f"{image.origin}: instance {k + 1} of {image.file_name} has "
                            f"{vertices:,} vertices (at most {MAX_VERTICES:,})")
            continue
        try:
            shape = clip_to_image(inst.shape, width, height)
        except ShapeError as exc:
            problems.append(f"{image.origin}: instance {k + 1} of {image.file_name}: {exc}")
            continue
        if shape.is_empty:
            outside += 1
            continue
        if shape is not inst.shape:
            clipped += 1
            inst.shape = shape
        kept.append(inst)
    image.instances = kept
    size = f"the {width}x{height} image {image.file_name}"
    if clipped:
        report.warnings.append(f"{image.origin}: {clipped} instance(s) reach outside {size}; "
                               "clipped to it")
    if outside:
        report.warnings.append(f"{image.origin}: {outside} instance(s) lie outside {size} "
                               "(nothing of them is inside it); left out")


def _checked_size(image: SourceImage, file: Path, lookup: _Lookup) -> tuple[int, int]:
    if image.image_data is not None and not file.exists():
        meta = probe(file, data=image.image_data)
        width, height, orientation = meta.width, meta.height, meta.orientation
        if cv2.imdecode(np.frombuffer(image.image_data, np.uint8), cv2.IMREAD_UNCHANGED) is None:
            raise ImageReadError(file, f"the image embedded in {image.origin} does not decode: "
                                       "it is corrupt or truncated")
    else:
        width, height, orientation = lookup.verified(image.file_name)
        if image.image_data is not None:
            _refuse_another_picture(image, file)
    if image.width is None or image.height is None:
        return width, height
    if (image.width, image.height) == (width, height):
        return width, height
    hint = ""
    if orientation in (5, 6, 7, 8) and (image.width, image.height) == (height, width):
        hint = (f"; the file's EXIF orientation ({orientation}) turns it by 90 degrees, so the "
                "labels were drawn on the unrotated pixels")
    raise ImageReadError(file, f"{image.origin} says {image.width}x{image.height} but the image "
                               f"is {width}x{height}{hint}")


def _refuse_another_picture(image: SourceImage, file: Path) -> None:
    """A labelme file carries the picture its labels were drawn on (imageData); a file of
    another picture under its imagePath would get labels it never had."""
    assert image.image_data is not None
    if file.read_bytes() == image.image_data:
        return
    embedded = cv2.imdecode(np.frombuffer(image.image_data, np.uint8), cv2.IMREAD_COLOR)
    on_disk = cv2.imdecode(np.fromfile(file, np.uint8), cv2.IMREAD_COLOR)
    if embedded is None or on_disk is None or embedded.shape != on_disk.shape or \
            _unlike(embedded, on_disk):
        raise ImageReadError(file, f"another picture than the one {image.origin} carries "
                                   "(imageData), on which its labels were drawn; remove one of "
                                   "the two so it is clear which the labels belong to")


def _unlike(a: np.ndarray, b: np.ndarray) -> bool:
    """Two decodings of one picture differ by a few levels (JPEG saved again); a crack, a
    missing part or another scene differ by far more, on few pixels or many."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2)
    return bool(diff.mean() > 2.0 or (diff > 48).mean() > 0.0005)


def _stored_path(project: Project, image: SourceImage, file: Path, options: ImportOptions,
                 claimed: set[str]) -> str:
    if not (options.copy or (image.image_data is not None and not file.exists())):
        return project.stored_path(file)
    target = PurePosixPath(IMAGES_DIR, image.file_name)
    candidate, k = target, 1
    while True:
        name = candidate.as_posix()
        if project.store.image_by_path(name) is not None:
            return name  # the same image again: the --existing rule decides
        if (folded_name(name) not in claimed and file.exists()
                and not is_own_file(project.folder, project.folder / candidate)
                and cut_copy_of(project.folder / candidate, file)):
            (project.folder / candidate).unlink()  # an import killed while copying it
        if folded_name(name) not in claimed and not (project.folder / candidate).exists():
            return name
        if folded_name(name) not in claimed and _left_by_a_cut_import(project.folder / candidate,
                                                                    image, file):
            return name  # the copy an import killed mid-way made: taken, not copied again
        k += 1  # another file of that name: keep both
        candidate = target.with_name(f"{target.stem}-{k}{target.suffix}")


def _left_by_a_cut_import(target: Path, image: SourceImage, file: Path) -> bool:
    """Whether `target`, a file in the project that no image record names, holds exactly the
    bytes to be put there: a copy an import made before it was killed."""
    if image.image_data is None or file.exists():
        return same_bytes(target, file)
    try:
        return target.is_file() and target.read_bytes() == image.image_data
    except OSError:
        return False


def _copy_target(project: Project, plan: _Planned) -> Path | None:
    """Where in the project the plan puts its image (a copy, or embedded image data), or None
    when the image is recorded where it is."""
    if plan.stored == project.stored_path(plan.file):
        return None
    return project.folder / plan.stored


def _refuse_targets_out(project: Project, plans: list[_Planned]) -> None:
    """Every image put into the project stays in it: a linked `images/` (or a folder or file
    in it) from a folder copied from elsewhere would take the copy, or the recorded path, out.
    Checked for all before anything is written, so the import stays all or nothing."""
    for plan in plans:
        target = _copy_target(project, plan)
        if target is None:
            continue
        if is_own_file(project.folder, target):
            raise ImportFailed([f"{target}: the project's own file (through a link), not a "
                                "place for an image; remove the link"])
        try:
            if target.exists():  # already there: recorded, not written
                inside_folder(project.folder, target)
            else:
                writable_inside(project.folder, target)
        except UnsafePathError as exc:
            raise ImportFailed([str(exc)]) from None


def _write(project: Project, dataset: Dataset, plans: list[_Planned], options: ImportOptions,
           report: ImportReport) -> None:
    store = project.store
    created: list[Path] = []
    try:
        for plan in plans:
            target = _copy_target(project, plan)
            if target is None or target.exists():
                continue
            writable_inside(project.folder, target)  # again: a link made since the check
            if plan.source.image_data is not None and not plan.file.exists():
                atomic_write_bytes(target, plan.source.image_data)
            else:
                copy_new(plan.file, target)
            created.append(target)
        with store.transaction():
            before = {c.name for c in store.classes()}
            class_ids = store.ensure_classes(dataset.classes)
            report.classes_added = [c for c in dataset.classes if c not in before]
            for plan in plans:
                _add_image(project, plan, options, class_ids, report)
    except BaseException:
        for path in created:
            path.unlink(missing_ok=True)
        raise


def _add_image(project: Project, plan: _Planned, options: ImportOptions,
               class_ids: dict[str, int], report: ImportReport) -> None:
    store = project.store
    image = plan.source
    split = options.split or image.split or Split.TRAIN
    status = ImageStatus.LABELED if image.labeled else ImageStatus.UNLABELED
    if plan.replace_id is not None:
        record = store.image(plan.replace_id)
        store.replace_instances(record.id, [])
        store.set_split([record.id], split)
        store.set_status(record.id, status)
        report.images_replaced += 1
    else:
        record = store.add_image(plan.stored, plan.width, plan.height, split, status)
        project.keep_image_files([plan.stored])
        report.images_added += 1
    ids = _instance_ids(image, report)
    stacked = sorted(enumerate(image.instances),
                     key=lambda pair: pair[1].z if pair[1].z is not None else pair[0])
    instances = [Instance(
        image_id=record.id, id=ids[k],
        class_id=class_ids[inst.class_name] if inst.class_name else None,
        shape=inst.shape, z=z, track_id=_track_id(inst.track_id, image, report),
        source=Source.IMPORTED, crowd=inst.crowd)
        for z, (k, inst) in enumerate(stacked)]
    store.restore_instances(instances)
    report.instances_added += len(instances)



def _instance_ids(image: SourceImage, report: ImportReport) -> list[int]:
    """The file's own instance ids where it has unique ones; new ids after them for the rest.
    Repeated ids are reported and the image numbered anew."""
    given = [i.source_id for i in image.instances]
    known = [i for i in given if i is not None]
    duplicates = sorted(i for i, n in Counter(known).items() if n > 1)
    if duplicates:
        report.warnings.append(f"{image.origin}: instance ids {duplicates} are used more than "
                               "once; the image's instances were numbered anew")
    if any(not storable_id(i, 1) for i in known):
        report.warnings.append(f"{image.origin}: instance ids outside 1..{MOST_WHOLE}; the "
                               "image's instances were numbered anew")
    if duplicates or any(not storable_id(i, 1) for i in known):
        return list(range(1, len(given) + 1))
    fresh = iter(range(max(known, default=0) + 1, max(known, default=0) + len(given) + 1))
    return [i if i is not None else next(fresh) for i in given]


def _track_id(track_id: int | None, image: SourceImage, report: ImportReport) -> int | None:
    """The file's track id where the store can keep it; else none, said."""
    if track_id is None or storable_id(track_id):
        return track_id
    report.warnings.append(f"{image.origin}: track id {track_id} is outside 0..{MOST_WHOLE}; "
                           "left out")
    return None
