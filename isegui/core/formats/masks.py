"""Instance-id masks: one PNG or TIFF per image (8 or 16 bit), a value per instance, 0 for
background, plus a class map. The layout is VOC's:

    SegmentationObject/<stem>.png   instance ids (255 in an 8-bit file is void, as in VOC)
    SegmentationClass/<stem>.png    class ids (optional; 255 is void / ignore)
    class_names.txt                 line k names class id k (line 0 is the background)
    ImageSets/Segmentation/<split>.txt, labelmap.txt   VOC's split lists and classes (written
                                    for other tools; the split lists are read)
    instances.csv                   optional: image,instance_id,class,track_id (our export;
                                    its cells escaped by core.csv_cells, never a formula)
    instances.json                  or: {"<image stem>": {"<instance id>": "<class>"}}
    JPEGImages/                     the images

A folder of instance masks alone (with instances.csv or class_names.txt beside them) also
reads. One label per pixel: where instances overlap, the upper one is written. The text files
hold one name a line: image names reach them without line breaks (the export writes those as
"_"), and a class name's break is written as a space in the class lists, so no line is added.
"""

from __future__ import annotations

import csv
import io
import re
import json
from pathlib import Path, PurePosixPath
from typing import TypeAlias

import numpy as np
from PIL import Image

from isegui.core.csv_cells import csv_text, unescape_cell
from isegui.core.entities import LabelClass, Split
from isegui.core.errors import FormatError, InputFileError
from isegui.core.fileio import atomic_write_bytes, atomic_write_text, read_json, read_regular_text
from isegui.core.formats.base import (Dataset, ExportImage, ExportReport, ImageLookup,
                                      SourceImage, SourceInstance, names_by_line,
                                      split_named)
from isegui.core.geometry import (MAX_VERTICES, bounds_window, rasterize, traced_vertices,
                                   vectorize)
from isegui.core.images import IMAGE_SUFFIXES, PIL_FORMATS, open_image_file

name = "masks"
description = "instance-id masks (PNG/TIFF, 8/16-bit) with a class map, VOC layout"
OBJECT_DIR, CLASS_DIR, IMAGE_DIR = "SegmentationObject", "SegmentationClass", "JPEGImages"
CLASS_NAMES, INSTANCES_CSV, INSTANCES_JSON = "class_names.txt", "instances.csv", "instances.json"
SPLITS_DIR, LABELMAP = "ImageSets/Segmentation", "labelmap.txt"  # VOC's, for other tools
VOID = 255
_MASK_SUFFIXES = (".png", ".tif", ".tiff")
# what ends a line for str.splitlines (and so for many readers of line lists)
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")

_Table: TypeAlias = dict[int, tuple[str | None, int | None]]  # one image's: id -> (class, track)


def default_image_root(source: Path) -> Path:
    return source / IMAGE_DIR if (source / IMAGE_DIR).is_dir() else source


def image_path(file_name: str, split: Split) -> str:
    return f"{IMAGE_DIR}/{file_name}"


def read(source: Path, images: ImageLookup) -> Dataset:
    if not source.is_dir():
        raise InputFileError(source, "the masks format reads a folder (SegmentationObject/ "
                                     "with a class map); this is a file")
    object_dir = source / OBJECT_DIR if (source / OBJECT_DIR).is_dir() else source
    class_dir = source / CLASS_DIR if (source / CLASS_DIR).is_dir() else None
    if object_dir == source and class_dir is not None:  # VOC semantic: class masks were read
        raise InputFileError(source, f"{CLASS_DIR}/ but no {OBJECT_DIR}/: the masks format "
                                     f"needs instance masks ({OBJECT_DIR}, a value per "
                                     "object); class masks alone cannot separate the objects "
                                     "of one class")
    mask_files = sorted(p for p in object_dir.rglob("*") if p.suffix.lower() in _MASK_SUFFIXES)
    if not mask_files:
        raise InputFileError(object_dir, "no instance-id masks (.png/.tif) found")
    data = Dataset()
    names = (_class_names(source / CLASS_NAMES, data.warnings)
             if (source / CLASS_NAMES).is_file() else None)
    table = _instances_table(source)
    splits, lines_of = _splits_listed(source)
    for n in (names or [])[1:]:
        data.add_class(n)
    masks_of: dict[str, Path] = {}  # image stem -> its mask file
    for mask_file in mask_files:
        stem = PurePosixPath(*mask_file.relative_to(object_dir).with_suffix("").parts)
        if stem.as_posix() in masks_of:  # x.png and x.tif: which one holds its objects?
            raise FormatError(mask_file, f"a second mask for the image {stem} (the first is "
                                         f"{masks_of[stem.as_posix()].name}); keep one")
        masks_of[stem.as_posix()] = mask_file
        file_name = images.find(stem.as_posix())
        if file_name is None:
            data.warnings.append(f"{mask_file}: no image named {stem}.* found; skipped")
            continue
        size = images.size(file_name)
        ids = _read_label_image(mask_file, size)
        classes = None
        if class_dir is not None:
            class_file = _sibling(class_dir, stem)
            if class_file is not None:
                classes = _read_label_image(class_file, size)
        image = SourceImage(file_name, ids.shape[1], ids.shape[0], origin=str(mask_file),
                            split=splits.get(stem.as_posix()))
        _read_instances(ids, classes, names, table.get(stem.as_posix(), {}), image,
                        mask_file, data)
        data.images.append(image)
    _warn_unmatched_lines(lines_of, masks_of, data.warnings)
    return data


def _warn_unmatched_lines(lines_of: dict[str, tuple[Path, int, str]], masks_of: dict[str, Path],
                          warnings: list[str]) -> None:
    """A split list's lines that name no image with a mask, per list: the first named."""
    unmatched: dict[Path, list[tuple[int, str]]] = {}
    for stem, (path, line, name) in lines_of.items():
        if stem not in masks_of:
            unmatched.setdefault(path, []).append((line, name))
    for path, lines in unmatched.items():
        line, name = min(lines)
        warnings.append(f"{path}: {len(lines)} line(s) name no image with a mask in "
                        f"{OBJECT_DIR}, ignored; the first: line {line}, {name!r}")


def _read_instances(ids: np.ndarray, classes: np.ndarray | None, names: list[str] | None,
                    table: _Table, image: SourceImage, mask_file: Path, data: Dataset) -> None:
    void_value = VOID if ids.dtype == np.uint8 and VOID not in table else None
    flat = ids.ravel()
    nonzero = np.flatnonzero(flat)
    values = flat[nonzero]
    order = np.argsort(values, kind="stable")
    uniq, starts = np.unique(values[order], return_index=True)
    bounds = list(starts) + [len(order)]
    for k, value in enumerate(uniq.tolist()):
        if value == void_value:
            continue
        pixels = nonzero[order[bounds[k]:bounds[k + 1]]]
        rows, cols = np.divmod(pixels, ids.shape[1])
        y0, x0 = rows.min(), cols.min()
        window = np.zeros((rows.max() - y0 + 1, cols.max() - x0 + 1), dtype=bool)
        window[rows - y0, cols - x0] = True
        _refuse_if_too_many_vertices(window, f"instance {value}", mask_file)
        class_name, track = _class_of(value, pixels, classes, names, table, mask_file, data)
        image.instances.append(SourceInstance(class_name, vectorize(window, (int(x0), int(y0))),
                                              source_id=int(value), track_id=track))
        if class_name is not None:
            data.add_class(class_name)
    void = np.zeros(ids.shape, dtype=bool)
    if void_value is not None:
        void |= ids == void_value
    if classes is not None:
        void |= (classes == VOID) & (ids == 0)
    if void.any():
        _refuse_if_too_many_vertices(void, "the void (255, ignore) region", mask_file)
        image.instances.append(SourceInstance(None, vectorize(void), crowd=True))


def _refuse_if_too_many_vertices(mask: np.ndarray, what: str, mask_file: Path) -> None:
    """Counted before tracing: a 2 KB checkerboard took 30 s and GBs to trace."""
    vertices = traced_vertices(mask)
    if vertices > MAX_VERTICES:
        raise FormatError(mask_file, f"{what} traces to {vertices:,} vertices "
                                     f"(at most {MAX_VERTICES:,})")


def _class_of(value: int, pixels: np.ndarray, classes: np.ndarray | None,
              names: list[str] | None, table: _Table, mask_file: Path,
              data: Dataset) -> tuple[str | None, int | None]:
    if value in table:
        return table[value]
    if classes is None:
        note = (f"{mask_file}: no class mask and no {INSTANCES_CSV}: its instances are "
                "imported without a class (import with --class NAME to give them one)")
        if note not in data.warnings[-1:]:
            data.warnings.append(note)
        return None, None
    votes = np.bincount(classes.ravel()[pixels])
    votes[0] = 0  # background and void say nothing about the class
    if len(votes) > VOID:
        votes[VOID] = 0
    if not votes.any():
        data.warnings.append(f"{mask_file}: instance {value} lies on background in the class "
                             "mask; imported without a class")
        return None, None
    class_id = int(votes.argmax())
    if votes[class_id] < 0.9 * votes.sum():
        data.warnings.append(f"{mask_file}: instance {value} covers several classes; the "
                             "majority class is used")
    if names is None or class_id >= len(names):
        return f"class_{class_id}", None
    return names[class_id], None


def _read_label_image(path: Path, size: tuple[int, int]) -> np.ndarray:
    """The stored values (palette indices, not colours) of an 8- or 16-bit label image of
    its image's `size` (width, height), checked from the header before decoding."""
    try:
        with open_image_file(path) as file, Image.open(file, formats=PIL_FORMATS) as im:
            if im.size != tuple(size):
                raise FormatError(path, f"the mask is {im.width}x{im.height}, its image "
                                        f"{size[0]}x{size[1]}")
            if im.mode in ("RGB", "RGBA"):
                raise FormatError(path, "a colour image; a label mask must hold one value "
                                        "per pixel (grayscale or palette, 8 or 16 bit)")
            values = np.asarray(im)
    except FormatError:
        raise
    except Exception as exc:
        raise FormatError(path, f"cannot read the mask ({exc})") from None
    if values.ndim != 2:
        raise FormatError(path, f"a label mask must be one channel, got shape {values.shape}")
    if values.dtype.kind == "b":
        return values.astype(np.uint8)
    if values.dtype.kind not in "ui" or values.max(initial=0) > 65535 or values.min(initial=0) < 0:
        raise FormatError(path, "label values must be whole numbers from 0 to 65535")
    return values if values.dtype == np.uint8 else values.astype(np.uint16)


def _sibling(folder: Path, stem: PurePosixPath) -> Path | None:
    for suffix in _MASK_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _text_of(path: Path) -> str:
    """A list file's text; FormatError naming it when it is not UTF-8 or cannot be read."""
    try:
        return read_regular_text(path)
    except UnicodeDecodeError as exc:
        raise FormatError(path, f"not UTF-8 text (byte {exc.start}); save it as UTF-8") \
            from None
    except OSError as exc:
        raise FormatError(path, f"cannot read it ({exc.strerror or exc})") from None


def _class_names(path: Path, warnings: list[str]) -> list[str]:
    """Line k names class value k. Line 0 is the background under any of its usual names
    (VOC/CVAT write "background", labelme2voc "_background_", Detectron "__background__");
    a list that starts with another name is taken to start at value 1, and says so."""
    names = [n for n in names_by_line(path, _text_of(path)) if n != "__ignore__"]
    if names and not _names_background(names[0]):
        warnings.append(f"{path}: line 1 is {names[0]!r}, not the background: read as class "
                        "value 1 (and so on); add a first line 'background' if value 0 is not "
                        "the background")
        names.insert(0, "_background_")
    return names


def _names_background(name: str) -> bool:
    return name.strip().strip("_").lower() in ("background", "bg")


def _instances_table(source: Path) -> dict[str, _Table]:
    """Instance id -> (class, track id) per image stem, from instances.csv or .json if there."""
    if (source / INSTANCES_CSV).is_file():
        return _table_from_csv(source / INSTANCES_CSV)
    if (source / INSTANCES_JSON).is_file():
        return _table_from_json(source / INSTANCES_JSON)
    return {}


def _table_from_csv(path: Path) -> dict[str, _Table]:
    table: dict[str, _Table] = {}
    try:
        rows = list(csv.DictReader(io.StringIO(_text_of(path), newline="")))
    except csv.Error as exc:
        raise FormatError(path, f"not a CSV isegui can read ({exc})") from None
    for line, row in enumerate(rows, start=2):
        try:
            image = unescape_cell(row["image"])
            inst = _whole_number(row["instance_id"])
            track = _whole_number(row["track_id"]) if row.get("track_id") else None
        except (KeyError, TypeError, ValueError):
            raise FormatError(path, f"line {line}: needs image, instance_id (a number), "
                                    "class") from None
        if inst in table.get(image, {}):
            raise FormatError(path, f"line {line}: instance {inst} of {image} is listed twice")
        table.setdefault(image, {})[inst] = (unescape_cell(row.get("class") or "") or None,
                                             track)
    return table


def _whole_number(text: object) -> int:
    """A number written in ASCII digits (int() would also take '1_0' or other scripts')."""
    if not isinstance(text, str):
        raise ValueError(text)  # a short row: the column is missing
    text = text.strip()
    if not (text.isascii() and text.lstrip("-").isdigit()):
        raise ValueError(text)
    return int(text)


def _instance_id(key: str) -> int | None:
    """An instances.json key as the pixel value it stands for: ASCII digits only (int() also
    took " 1 ", "1_0" and other scripts' digits); None for anything else."""
    if not (key.isascii() and key.isdigit()):
        return None
    try:
        return int(key)
    except ValueError:  # over 4300 digits
        return None


def _table_from_json(path: Path) -> dict[str, _Table]:
    doc = read_json(path)
    if not isinstance(doc, dict):
        raise FormatError(path, 'expected {"<image>": {"<instance id>": "<class>"}}')
    table: dict[str, _Table] = {}
    for image, ids in doc.items():
        if not isinstance(ids, dict):
            raise FormatError(path, f"{image}: expected an object of instance id -> class")
        spelled: dict[int, str] = {}  # id -> its key: "1" and "01" are one instance
        for key, value in ids.items():
            inst = _instance_id(key)
            if inst is None:
                raise FormatError(path, f"{image}: instance id {key[:40]!r} is not a number")
            if inst in spelled:  # the last would win without a word
                raise FormatError(path, f"{image}: instance {inst} is listed twice (as "
                                        f"{spelled[inst][:40]!r} and {key[:40]!r})")
            spelled[inst] = key
            name, track = (value.get("class"), value.get("track_id")) \
                if isinstance(value, dict) else (value, None)
            if name is not None and not isinstance(name, str):
                raise FormatError(path, f"{image}: the class of instance {key} must be a name, "
                                        f"not {json.dumps(name)[:40]}")
            table.setdefault(image, {})[inst] = (
                name, track if isinstance(track, int) and not isinstance(track, bool) else None)
    return table


# --------------------------------------------------------------------------- write

def write(dest: Path, images: list[ExportImage], classes: list[LabelClass],
          report: ExportReport, suffix: str = ".png") -> None:
    index = {c.id: k + 1 for k, c in enumerate(classes)}
    if len(classes) >= VOID:
        raise ValueError(f"the masks format holds up to {VOID - 1} classes, the project has "
                         f"{len(classes)}")
    rows: list[tuple[str, int | str, str, int | str]] = [
        ("image", "instance_id", "class", "track_id")]
    names = {c.id: c.name for c in classes}
    for image in images:
        h, w = image.record.height, image.record.width
        ids = np.zeros((h, w), dtype=np.uint16)
        cls = np.zeros((h, w), dtype=np.uint8)
        stem = str(PurePosixPath(image.file_name).with_suffix(""))
        overlapped = False
        for inst in sorted(image.instances, key=lambda i: (i.z, i.id)):
            x0, y0, x1, y1 = bounds_window(inst.shape, h, w)
            window = rasterize(inst.shape, y1 - y0, x1 - x0, origin=(x0, y0))
            id_view, cls_view = ids[y0:y1, x0:x1], cls[y0:y1, x0:x1]
            overlapped |= bool((cls_view[window] != 0).any())
            if inst.crowd:
                cls_view[window], id_view[window] = VOID, 0
                continue
            if inst.id > 65535:
                report.lose(f"instance ids above 65535 do not fit a 16-bit mask ({stem})")
                continue
            # an instance without a class keeps its id; only the class image says void
            id_view[window] = inst.id
            cls_view[window] = VOID if inst.class_id is None else index[inst.class_id]
            rows.append((stem, inst.id, "" if inst.class_id is None else names[inst.class_id],
                         "" if inst.track_id is None else inst.track_id))
        if overlapped:
            report.lose("one label per pixel: where instances overlap, the lower one loses the "
                        "hidden pixels")
        if len(np.unique(ids)) - 1 < sum(1 for i in image.instances if not i.crowd):
            report.lose("instances completely hidden under others are lost")
        if any(i.crowd and i.class_id is not None for i in image.instances):
            report.lose("crowd regions are written as void (255); their class is lost")
        _write_mask(dest / OBJECT_DIR / f"{stem}{suffix}", ids, report)
        _write_mask(dest / CLASS_DIR / f"{stem}{suffix}", cls, report)
    names_in_lines = [_in_one_line(c.name, report) for c in classes]
    atomic_write_text(dest / CLASS_NAMES, "\n".join(["_background_", *names_in_lines]) + "\n")
    _write_voc_lists(dest, images, names_in_lines, classes, report)
    atomic_write_text(dest / INSTANCES_CSV, csv_text(rows))
    report.files += [dest / CLASS_NAMES, dest / INSTANCES_CSV]


def _in_one_line(name: str, report: ExportReport) -> str:
    """A class name as a line of a list: its line breaks as spaces (said in the report)."""
    if _LINE_BREAK.search(name):
        report.lose(f"class names are one line in {CLASS_NAMES} and {LABELMAP}: the line breaks "
                    f"in {name!r} are written as spaces there ({INSTANCES_CSV} keeps the name)")
        return _LINE_BREAK.sub(" ", name)
    return name


def _write_voc_lists(dest: Path, images: list[ExportImage], class_names: list[str],
                     classes: list[LabelClass], report: ExportReport) -> None:
    """What VOC readers (Datumaro, CVAT) look for beside the masks: the images of each split
    (ImageSets/Segmentation/<split>.txt) and the classes with their colours (labelmap.txt;
    line k is class value k)."""
    for split in Split:
        stems = [str(PurePosixPath(i.file_name).with_suffix("")) for i in images
                 if i.record.split == split]
        if stems:
            target = dest / SPLITS_DIR / f"{split.value}.txt"
            atomic_write_text(target, "\n".join(stems) + "\n")
            report.files.append(target)
    lines = ["# label:color_rgb:parts:actions", "background:0,0,0::"]
    for c, name in zip(classes, class_names):
        if ":" in name:
            report.lose(f"labelmap.txt cannot hold ':' in a class name ({c.name!r} is written "
                        "with '_')")
        rgb = ",".join(str(int(c.color[k:k + 2], 16)) for k in (1, 3, 5))
        lines.append(f"{name.replace(':', '_')}:{rgb}::")
    atomic_write_text(dest / LABELMAP, "\n".join(lines) + "\n")
    report.files.append(dest / LABELMAP)


def _splits_listed(source: Path) -> tuple[dict[str, Split], dict[str, tuple[Path, int, str]]]:
    """Image stem -> split, from VOC's ImageSets/Segmentation/<split>.txt where present, and
    image stem -> (list, line number, the line's name), for saying which lines name no image.
    A name may carry its image suffix (some tools write "a.png"); an image in two lists is
    refused, as neither list can be trusted to win."""
    listed: dict[str, Split] = {}
    lines_of: dict[str, tuple[Path, int, str]] = {}
    for path in sorted((source / SPLITS_DIR).glob("*.txt")):
        split = split_named(path.stem)
        if split is None:
            continue
        # "\n" ends a line, as VOC's tools write them (splitlines would also cut a name at
        # a U+2028)
        for number, line in enumerate(_text_of(path).split("\n"), start=1):
            stem = _listed_stem(line)
            if not stem:
                continue
            if stem in lines_of and lines_of[stem][0] != path:
                raise FormatError(path, f"{stem} is also listed in {lines_of[stem][0].name}; "
                                        "list each image in one split")
            listed[stem] = split
            lines_of.setdefault(stem, (path, number, line.strip()))
    return listed, lines_of


def _listed_stem(line: str) -> str:
    name = line.strip()
    suffix = PurePosixPath(name).suffix
    return name[:-len(suffix)] if suffix.lower() in IMAGE_SUFFIXES else name


def _write_mask(path: Path, values: np.ndarray, report: ExportReport) -> None:
    """8-bit when the values allow (255 stays void), 16-bit otherwise."""
    small = values.max(initial=0) < VOID or values.dtype == np.uint8
    out = values.astype(np.uint8) if small else values.astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(out).save(buf, format="TIFF" if path.suffix in (".tif", ".tiff") else "PNG")
    atomic_write_bytes(path, buf.getvalue())
    report.files.append(path)
