"""What every format reads into and writes from: a format-neutral labeled dataset.

Readers only parse (no project, no image copying); `core.formats.importer` resolves files and writes
the store. Writers receive `ExportImage`s and report what their format cannot hold.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from shapely.geometry.base import BaseGeometry

from isegui.core.entities import ImageRecord, Instance, LabelClass, Split
from isegui.core.errors import FormatError, ShapeError
from isegui.core.geometry import MAX_COORDINATE, MAX_CROSSINGS, Shape, repair

class ImageLookup(Protocol):
    """What a reader may ask about the images under the import's image root."""

    root: Path  # file names are relative to this folder and may not leave it

    def size(self, file_name: str) -> tuple[int, int]:
        """(width, height) after EXIF orientation, from the file's header."""

    def find(self, stem: str) -> str | None:
        """The file name of the image with this relative stem ("a/b" for a/b.jpg), if any."""

    def with_stem(self, stem: str) -> list[str]:
        """Every image with this relative stem (a/b.jpg and a/b.png), sorted."""

    def files(self) -> list[str]:
        """Every image under the root, sorted."""


@dataclass
class SourceInstance:
    class_name: str | None  # None only for ignore regions without a class
    shape: Shape
    source_id: int | None = None  # the instance's id in the file, kept where it fits
    track_id: int | None = None
    z: int | None = None  # None: stacking follows the file's order
    crowd: bool = False
    score: float | None = None  # set for predictions


@dataclass
class SourceImage:
    file_name: str  # relative to the image root, "/" separated, already checked safe
    width: int | None = None  # as the annotation file declares it (None: not declared)
    height: int | None = None
    instances: list[SourceInstance] = field(default_factory=list)
    labeled: bool = True  # listed by the annotation file, so someone looked at it
    image_data: bytes | None = None  # an embedded image (labelme imageData)
    split: Split | None = None  # where the format says (YOLO train/val folders)
    origin: str = ""  # the annotation file it came from, for messages


@dataclass
class Dataset:
    classes: list[str] = field(default_factory=list)  # in the format's order
    images: list[SourceImage] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    colors: dict[str, str] = field(default_factory=dict)

    def add_class(self, name: str) -> None:
        if name not in self.classes:
            self.classes.append(name)


@dataclass(frozen=True)
class ExportImage:
    record: ImageRecord
    file: Path  # the image file on disk
    file_name: str  # its unique name in the export (relative, "/" separated)
    instances: list[Instance]
    scores: dict[int, float] | None = None  # instance id -> score when exporting predictions


@dataclass
class ExportReport:
    files: list[Path] = field(default_factory=list)
    losses: list[str] = field(default_factory=list)  # what the format could not keep

    def lose(self, message: str) -> None:
        if message not in self.losses:
            self.losses.append(message)


class Format(Protocol):
    name: str
    description: str

    def read(self, source: Path, images: ImageLookup) -> Dataset: ...

    def default_image_root(self, source: Path) -> Path: ...

    def image_path(self, file_name: str, split: Split) -> str:
        """Where an exported image goes, relative to the export folder."""

    def write(self, dest: Path, images: list[ExportImage], classes: list[LabelClass],
              report: ExportReport) -> None: ...


def split_named(name: str | None) -> Split | None:
    """The split a folder or file name stands for, as tools name them ("valid" and
    "validation" are val); None for any other name."""
    name = "val" if name in ("valid", "validation") else name
    return Split(name) if name in {s.value for s in Split} else None


def names_by_line(path: Path, text: str) -> list[str]:
    """A class-name list (YOLO's classes.txt, the masks' class_names.txt): each line names the
    class of its place in the list, so a blank line before the last name is refused rather
    than dropped. Darknet, CVAT and
    labelme's labelme2voc all count lines, so dropping one shifts every later class onto the
    labels of the next (a class deleted by hand, its line left empty); keeping it would make
    a class without a name. Blank lines at the end name nothing and are fine."""
    names = [line.strip() for line in text.splitlines()]
    while names and not names[-1]:
        names.pop()
    blank = next((k for k, name in enumerate(names, start=1) if not name), None)
    if blank is not None:
        raise FormatError(path, f"line {blank} is blank, but each line names the class of its "
                                "place in the list (every later class would shift); write "
                                "the class's name there")
    return names


def beyond_any_image(values: np.ndarray, where: str, dataset: Dataset) -> bool:
    """True, with a warning, when a coordinate (finite, checked before) lies beyond
    MAX_COORDINATE px: no image reaches there, and shapely overflows on such numbers (1e300)
    with raw RuntimeWarnings. Checked before any shapely call."""
    if values.size == 0 or float(np.abs(values).max()) <= MAX_COORDINATE:
        return False
    dataset.warnings.append(f"{where}: a coordinate beyond {MAX_COORDINATE:g} px, far outside "
                            "any image; skipped")
    return True


def repaired_or_warn(geometry: BaseGeometry, where: str, dataset: Dataset,
                     max_crossings: int | None = MAX_CROSSINGS) -> Shape | None:
    """Repair a shape read from a file; None (with a warning) when nothing is left of it, or
    when its edges meet so often that the repair would take minutes (a hostile file).
    Wild coordinates (1e300) overflow inside GEOS's and numpy's arithmetic: that is no news
    for the user beside the one warning about the shape (the import clips it to the image)."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fixed = repair(geometry, max_crossings)
    except ShapeError as exc:
        dataset.warnings.append(f"{where}: skipped, {exc}")
        return None
    except Exception as exc:  # shapely raises GEOSException for wild coordinates
        dataset.warnings.append(f"{where}: skipped, not a usable polygon ({exc})")
        return None
    if fixed.note:
        dataset.warnings.append(f"{where}: {fixed.note}")
    return fixed.shape
