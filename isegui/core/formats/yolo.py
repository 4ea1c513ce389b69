"""YOLO segmentation (Ultralytics layout): `data.yaml` with class names, `images/<split>/` and
`labels/<split>/<stem>.txt` (or Roboflow's `<split>/images/` and `<split>/labels/`), one line
per instance: class index, then x y pairs normalised to [0, 1]. A ring holds no holes and an
instance no parts, so holes and parts are joined into one ring by zero-width cuts; reading
repairs the ring back into holes and parts.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import shapely
import yaml
from shapely.geometry import Polygon, box
from shapely.geometry.polygon import orient

from isegui.core.entities import MAX_CLASSES, LabelClass, Split
from isegui.core.errors import FormatError, InputFileError
from isegui.core.fileio import atomic_write_text, read_regular_text
from isegui.core.formats.base import (Dataset, ExportImage, ExportReport, ImageLookup,
                                      SourceImage, SourceInstance, names_by_line,
                                      repaired_or_warn, split_named)
from isegui.core.geometry import Shape, polygons_of

name = "yolo"
description = "YOLO segmentation txt (Ultralytics layout, data.yaml)"
DATA_YAML = "data.yaml"

MAX_CLASS_NAME = 200  # characters: a name to show in a list, not a text
FARTHEST = 1000.0  # image sizes: a YOLO coordinate beyond it is no place in the picture


def default_image_root(source: Path) -> Path:
    return source if source.is_dir() else source.parent


def image_path(file_name: str, split: Split) -> str:
    return f"images/{Split(split).value}/{file_name}"


def read(source: Path, images: ImageLookup) -> Dataset:
    folder = default_image_root(source)
    names = _class_names(source, folder)
    data = Dataset(classes=list(names))
    _say_shared_names(names, folder, data)
    label_files = sorted((folder / "labels").rglob("*.txt")) if (folder / "labels").is_dir() \
        else sorted(p for p in folder.rglob("*.txt") if p.name != "classes.txt")
    if not label_files:
        raise InputFileError(folder, "no YOLO label files (labels/**/*.txt) found")
    labeled = _images_by_label(images, folder)
    if not any(_key(f, folder) in labeled for f in label_files):
        # every image would come in as labeled with no objects: a layout not understood
        raise InputFileError(folder, f"{len(label_files)} label file(s), but none is an "
                                     "image's: an image's label file is its path with the last "
                                     "images/ folder turned into labels/ and the suffix .txt")
    taken: set[str] = set()  # images a label file names, or could name
    for label_file in label_files:
        twins = labeled.get(_key(label_file, folder), [])
        taken.update(twins)
        if not twins:
            data.warnings.append(f"{label_file}: no image for it; skipped")
            continue
        if len(twins) > 1:  # which of them does it label? Not guessed
            data.warnings.append(f"{label_file}: {' and '.join(twins)} share its name, and "
                                 "either could be the one it labels: all left out; rename "
                                 "them apart")
            continue
        file_name = twins[0]
        width, height = images.size(file_name)
        image = SourceImage(file_name, width, height, split=_split_of(file_name),
                            origin=str(label_file))
        _read_lines(label_file, names, width, height, image, data)
        data.images.append(image)
    _add_background_images(images, taken, data)
    return data


def _say_shared_names(names: list[str], folder: Path, data: Dataset) -> None:
    """Class ids that share a name come in as one class (the project's classes are named):
    said, with the ids."""
    ids: dict[str, list[int]] = {}
    for k, name in enumerate(names):
        ids.setdefault(name, []).append(k)
    for name, same in ids.items():
        if len(same) > 1:
            data.warnings.append(f"{folder}: class ids {', '.join(map(str, same))} share the "
                                 f"name {name!r}; their objects come in as one class")


def _add_background_images(images: ImageLookup, taken: set[str], data: Dataset) -> None:
    """Images without a label file are YOLO's background images, pictures with no object
    to find (Ultralytics trains on them so): imported as such, and said."""
    background = [name for name in images.files() if name not in taken]
    for file_name in background:
        width, height = images.size(file_name)
        data.images.append(SourceImage(file_name, width, height, split=_split_of(file_name)))
    if background:
        data.warnings.append(f"{len(background)} image(s) without a label file, the first "
                             f"{background[0]}, imported as images with no objects (YOLO's "
                             "background images)")


class _OneKeyOnce(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (the last would win: a
    class's name changed without a word)."""

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` brings keys in
                    continue
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} is given twice", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


class _IntAsWritten(int):
    """A YAML integer that remembers how it was written: 0123 is 83 to YAML 1.1 (octal), a
    part number to the person who wrote it."""
    text = ""


class _FloatAsWritten(float):
    text = ""  # 12:30 is 750.0 (base 60), 1_0.5 is 10.5


def _as_written(kind: type, construct: Any) -> Any:
    def constructor(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
        value = kind(construct(loader, node))
        value.text = str(node.value)
        return value
    return constructor


_OneKeyOnce.add_constructor("tag:yaml.org,2002:int", _as_written(
    _IntAsWritten, yaml.SafeLoader.construct_yaml_int))
_OneKeyOnce.add_constructor("tag:yaml.org,2002:float", _as_written(
    _FloatAsWritten, yaml.SafeLoader.construct_yaml_float))


class _Quoted(str):
    """A class name written in quotes: text to every YAML reader (1e3, 0o17 and +.5 are
    numbers to YAML 1.2's, which PyYAML, reading 1.1, would leave bare)."""


class _QuotingDumper(yaml.SafeDumper):
    pass


_QuotingDumper.add_representer(_Quoted, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", str(value), style='"'))


def _class_names(source: Path, folder: Path) -> list[str]:
    yaml_file = source if source.is_file() and source.suffix in (".yaml", ".yml") else None
    if yaml_file is None:
        found = [folder / DATA_YAML] + sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
        yaml_file = next((p for p in found if p.is_file()), None)
        odd = next((p for p in found if p.exists() and not p.is_file()), None)
        if yaml_file is None and odd is not None:
            raise FormatError(odd, "not a plain file (a folder, FIFO or device); the class "
                                   "names are read from a plain data.yaml")
    if yaml_file is not None:
        try:
            doc = yaml.load(yaml_file.read_text(encoding="utf-8-sig"), Loader=_OneKeyOnce)
        except (yaml.YAMLError, UnicodeDecodeError, TypeError) as exc:
            raise FormatError(yaml_file, f"malformed YAML ({exc})") from None
        except ValueError:  # PyYAML's int() of a number of over 4300 digits
            raise FormatError(yaml_file, "a number too long to read") from None
        except RecursionError:
            raise FormatError(yaml_file, "nested too deeply") from None
        if isinstance(doc, dict) and "kpt_shape" in doc:  # its numbers would read as outlines
            raise FormatError(yaml_file, "'kpt_shape': a pose dataset; keypoint labels are not "
                                         "instance outlines")
        names = doc.get("names") if isinstance(doc, dict) else None
        numbered = _numbered_names(yaml_file, names)
        if isinstance(doc, dict) and "nc" in doc:
            _check_class_count(yaml_file, doc["nc"], len(numbered))
        return [_class_name(yaml_file, k, n) for k, n in numbered]
    classes_txt = folder / "classes.txt"
    if classes_txt.is_file():
        try:
            text = read_regular_text(classes_txt)
        except (OSError, UnicodeDecodeError) as exc:
            raise FormatError(classes_txt, f"cannot read the class names ({exc})") from None
        names = names_by_line(classes_txt, text)
        if len(names) > MAX_CLASSES:
            raise FormatError(classes_txt, f"{len(names):,} class names (at most "
                                           f"{MAX_CLASSES:,})")
        return [_class_name(classes_txt, k, n) for k, n in enumerate(names)]
    raise InputFileError(folder, f"no {DATA_YAML} (or classes.txt) with the class names")


def _index(value: object) -> int:
    """A class index: a whole number in ASCII digits (int() would also read '1_0' as 10, or
    digits of other scripts); ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    text = str(value)
    if not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    return int(text)


def _numbered_names(yaml_file: Path, names: object) -> list[tuple[int, object]]:
    """data.yaml's 'names', a list or a mapping from class index to name, as (index, value)
    in index order."""
    if isinstance(names, dict):
        try:
            ordered = sorted(((_index(k), v) for k, v in names.items()), key=lambda kv: kv[0])
        except (TypeError, ValueError):
            raise FormatError(yaml_file, "'names' keys must be class indices") from None
        keys = [k for k, _ in ordered]
        if keys != list(range(len(keys))):  # the labels' indices are positions in this list
            shown = ", ".join(str(k) for k in keys[:10]) + (" …" if len(keys) > 10 else "")
            raise FormatError(yaml_file, f"'names' keys must be the class indices 0 to "
                                         f"{len(keys) - 1}, each once (got {shown})")
    elif isinstance(names, list):
        ordered = list(enumerate(names))
    else:
        raise FormatError(yaml_file, "no 'names' list or mapping of class names")
    if len(ordered) > MAX_CLASSES:
        raise FormatError(yaml_file, f"'names' holds {len(ordered):,} classes (at most "
                                     f"{MAX_CLASSES:,})")
    return ordered


def _check_class_count(yaml_file: Path, nc: object, named: int) -> None:
    """'nc' and 'names' must agree, as Ultralytics requires: which of them is wrong (a class
    missing from the list, or a count left from an earlier dataset) is not guessed."""
    if isinstance(nc, bool) or not isinstance(nc, int):
        # a list or a mapping is named, never spelled out: str() of nested aliases would
        # spell out every one of them (455 bytes of YAML: a billion items)
        shown = f"a {type(nc).__name__}" if isinstance(nc, (list, dict, set)) else \
            repr(str(nc)[:40])
        raise FormatError(yaml_file, f"'nc' is {shown}, not a number of classes")
    if nc != named:
        raise FormatError(yaml_file, f"'nc' is {nc} but 'names' holds {named} class "
                                     "name(s); make them agree")


def _class_name(yaml_file: Path, index: int, value: object) -> str:
    """One class name as text. Only text or a number is a name: str() of a list would spell
    out every alias in it, and a few hundred bytes of nested aliases spell out megabytes."""
    if isinstance(value, (list, dict)):
        raise FormatError(yaml_file, f"'names': class {index} is a {type(value).__name__}, "
                                     "not a name")
    if value is None:
        raise FormatError(yaml_file, f"'names': class {index} has no name")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise FormatError(yaml_file, f"'names': class {index} is {value!s:.40} as YAML reads "
                                     "it, not text; put the name in quotes")
    # a number is a name as it was written (0123, 12:30, 1_000), not as YAML reads it
    name = (getattr(value, "text", "") or str(value)).strip()
    if not name:
        raise FormatError(yaml_file, f"'names': class {index} has an empty name")
    if len(name) > MAX_CLASS_NAME:
        raise FormatError(yaml_file, f"'names': class {index} has a name of {len(name):,} "
                                     f"characters (at most {MAX_CLASS_NAME})")
    return name


def _images_by_label(images: ImageLookup, folder: Path) -> dict[str, list[str]]:
    """Each image under the label file Ultralytics reads for it (see _label_of)."""
    top = folder.resolve()
    by_label: dict[str, list[str]] = {}
    for file_name in images.files():
        path = images.root.resolve() / file_name
        label = top / _label_of(path.relative_to(top)) if path.is_relative_to(top) \
            else _label_of(path)
        by_label.setdefault(str(label), []).append(file_name)
    return by_label


def _label_of(image: Path) -> Path:
    """Ultralytics' rule: the last images/ folder in the path becomes labels/, the suffix .txt
    (images/train/a.jpg and train/images/a.jpg alike; an image in no images/ folder has its
    label beside it). Within the dataset folder, so that a folder above named images counts
    not."""
    parts = list(image.with_suffix(".txt").parts)
    last = max((k for k, part in enumerate(parts[:-1]) if part == "images"), default=None)
    if last is not None:
        parts[last] = "labels"
    return Path(*parts)


def _key(label_file: Path, folder: Path) -> str:
    return str(folder.resolve() / label_file.relative_to(folder))


def _split_of(file_name: str) -> Split | None:
    for part in PurePosixPath(file_name).parts[:-1]:
        if split_named(part) is not None:
            return split_named(part)
    return None


def _read_lines(label_file: Path, names: list[str], width: int, height: int,
                image: SourceImage, data: Dataset) -> None:
    try:
        lines = read_regular_text(label_file).splitlines()
    except UnicodeDecodeError:
        raise FormatError(label_file, "not a text file") from None
    except OSError as exc:
        raise FormatError(label_file, f"cannot read it ({exc.strerror or exc})") from None
    for n, line in enumerate(lines, start=1):
        tokens = line.split()
        if not tokens:
            continue
        where = f"{label_file}: line {n}"
        try:
            index, values = _index(tokens[0]), np.array(tokens[1:], dtype=float)
        except ValueError:
            raise FormatError(label_file, f"line {n}: expected a class index and numbers") \
                from None
        if not np.isfinite(values).all():
            raise FormatError(label_file, f"line {n}: a coordinate is not a finite number")
        if len(values) and np.abs(values).max() > FARTHEST:
            data.warnings.append(f"{where}: coordinates far outside the image (YOLO's run from "
                                 "0 to 1); skipped")
            continue
        if not 0 <= index < len(names):
            raise FormatError(label_file, f"line {n}: class index {index} is not in the "
                                          f"{len(names)} class names")
        if len(values) == 4:  # a detection box: centre x, y, width, height
            cx, cy, bw, bh = values * (width, height, width, height)
            geometry = box(cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
            data.warnings.append(f"{where}: a box, not a segment; imported as a rectangle")
        elif len(values) >= 6 and len(values) % 2 == 0:
            geometry = Polygon(values.reshape(-1, 2) * (width, height))
        else:
            data.warnings.append(f"{where}: {len(values)} coordinates are no polygon; skipped")
            continue
        shape = _from_ring(geometry, where, data)
        if shape is not None:
            image.instances.append(SourceInstance(names[index], shape))


def _from_ring(geometry: Polygon, where: str, data: Dataset) -> Shape | None:
    # Holes and parts joined by zero-width cuts make the ring touch itself: the format's way,
    # not worth a warning. Such a ring's own (shoelace) area equals its repaired area; a ring
    # with crossing edges (a bowtie) or a doubled loop does not, and that repair is reported.
    quiet = Dataset()
    shape = repaired_or_warn(geometry, where, quiet)
    if shape is None or abs(geometry.area - shape.area) > 1e-6 * max(shape.area, 1.0):
        data.warnings.extend(quiet.warnings)
    return shape


# --------------------------------------------------------------------------- write

def write(dest: Path, images: list[ExportImage], classes: list[LabelClass],
          report: ExportReport) -> None:
    index = {c.id: k for k, c in enumerate(classes)}
    splits = set()
    for image in images:
        split = image.record.split
        splits.add(split)
        lines = []
        for inst in sorted(image.instances, key=lambda i: (i.z, i.id)):
            if inst.class_id is None or inst.crowd:
                report.lose("regions to ignore and instances without a class are left out")
                continue
            ring = joined_ring(inst.shape)
            if not _reads_back(ring, inst.shape):
                report.lose(f"{image.file_name}: instance {inst.id} has holes or parts that "
                            "no single cut ring reproduces; written as its outline")
            xy = ring / (image.record.width, image.record.height)
            lines.append(" ".join([str(index[inst.class_id])] + [f"{v:.8f}" for v in xy.ravel()]))
        stem = PurePosixPath(image.file_name).with_suffix("")
        target = dest / "labels" / split.value / f"{stem}.txt"
        atomic_write_text(target, "\n".join(lines) + ("\n" if lines else ""))
        report.files.append(target)
    report.lose("YOLO keeps no instance ids, track ids or z-order (line order is kept)")
    doc = {"path": ".", **{s.value: f"images/{s.value}" for s in sorted(splits)},
           "names": {k: _Quoted(c.name) for k, c in enumerate(classes)}}
    doc.setdefault("train", "images/train")  # Ultralytics requires both keys
    doc.setdefault("val", doc["train"])
    atomic_write_text(dest / DATA_YAML, yaml.dump(doc, Dumper=_QuotingDumper, sort_keys=False,
                                                  allow_unicode=True))
    report.files.append(dest / DATA_YAML)


def joined_ring(shape: Shape) -> np.ndarray:
    """One ring through every part and hole: each hole and each further part is reached by a
    cut from the nearest vertex and left by the same cut back."""
    # shells counter-clockwise, holes clockwise: the cuts then cancel out when read back
    parts = [orient(p, sign=1.0) for p in polygons_of(shape)]
    ring = _with_holes(parts[0])
    for part in parts[1:]:
        ring = _splice(ring, _with_holes(part))
    return ring


def _with_holes(polygon: Polygon) -> np.ndarray:
    ring = np.asarray(polygon.exterior.coords)[:-1]
    for hole in polygon.interiors:
        ring = _splice(ring, np.asarray(hole.coords)[:-1])
    return ring


def _splice(ring: np.ndarray, other: np.ndarray) -> np.ndarray:
    d = ((ring[:, None, :] - other[None, :, :]) ** 2).sum(axis=2)
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    loop = np.concatenate([other[j:], other[:j + 1]])  # starts and ends at other[j]
    return np.concatenate([ring[:i + 1], loop, ring[i:]])


def _reads_back(ring: np.ndarray, shape: Shape) -> bool:
    quiet = Dataset()
    back = repaired_or_warn(Polygon(ring), "", quiet, max_crossings=None)  # the project's own
    return back is not None and shapely.symmetric_difference(back, shape).area < 1e-6 * max(
        shape.area, 1.0)
