"""COCO instance segmentation JSON: polygons and RLE (compressed and not), iscrowd, multi-part.

Export: a shape without holes is written as its polygons, one with holes as compressed RLE
(COCO polygons cannot hold holes); either way `COCO.annToMask` gives exactly our mask.
Our instance id, z-order and track id travel in each annotation's `attributes`. Exports use
COCO's own layout (annotations/instances_<split>.json, images/<split>/), which Datumaro and CVAT
detect; reading takes that layout or any single COCO file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import shapely
from shapely.geometry import Polygon, box

from isegui.core import rle
from isegui.core.entities import Instance, LabelClass, Split
from isegui.core.errors import FormatError, InputFileError, UnsafePathError
from isegui.core.fileio import atomic_write_json, read_json, safe_relative
from isegui.core.images import MAX_PIXELS
from isegui.core.formats.base import (Dataset, ExportImage, ExportReport, ImageLookup,
                                      SourceImage, SourceInstance, beyond_any_image,
                                      repaired_or_warn, split_named)
from isegui.core.geometry import Shape, has_holes, polygons_of

name = "coco"
description = "COCO JSON (polygons and RLE)"
ANNOTATION_FILE = "annotations.json"  # a lone COCO file, as many tools write one
# COCO's own layout, which we write and Datumaro/CVAT detect: one file per split,
# annotations/instances_<split>.json, its images under images/<split>/
ANNOTATIONS_DIR, IMAGES_DIR, SPLIT_PREFIX = "annotations", "images", "instances_"


def default_image_root(source: Path) -> Path:
    if source.is_dir() and _split_files(source):
        return source / IMAGES_DIR
    if not source.is_file():
        return source
    split, layout = _plain_split(_split_of_file(source)), source.parent.parent
    if split and source.parent.name == ANNOTATIONS_DIR and (layout / IMAGES_DIR / split).is_dir():
        return layout / IMAGES_DIR / split
    return source.parent


def image_path(file_name: str, split: Split) -> str:
    return f"{IMAGES_DIR}/{Split(split).value}/{file_name}"


def _split_files(folder: Path) -> list[Path]:
    """annotations/instances_<split>.json of COCO's layout under `folder`, if any."""
    return sorted((folder / ANNOTATIONS_DIR).glob(f"{SPLIT_PREFIX}*.json"))


def _split_of_file(path: Path) -> str | None:
    stem = path.stem
    return stem[len(SPLIT_PREFIX):] if stem.startswith(SPLIT_PREFIX) else None


def _plain_split(split: str | None) -> str | None:
    """`split` when it is one plain folder name, else None: the split of instances_...json
    is "..", which as the images' folder (images/../) leads out of images/."""
    if not split:
        return None
    try:
        return split if safe_relative(split, "split").as_posix() == split else None
    except UnsafePathError:
        return None


def _layout_split(path: Path) -> str:
    """The split of one file of COCO's layout, its images' folder under images/."""
    split = _plain_split(_split_of_file(path))
    if split is None:
        raise FormatError(path, f"the split its name gives ({_split_of_file(path)!r}) is no "
                                f"plain folder name; rename it {SPLIT_PREFIX}<split>.json "
                                "(train, val, test)")
    return split


def _annotation_file(source: Path) -> Path:
    if source.is_dir():
        candidates = sorted(source.glob("*.json"))
        if (source / ANNOTATION_FILE).is_file():
            return source / ANNOTATION_FILE
        if len(candidates) == 1:
            return candidates[0]
        raise InputFileError(source, "a folder with no single COCO .json file in it (nor "
                                     f"{ANNOTATIONS_DIR}/{SPLIT_PREFIX}<split>.json files); "
                                     "name the annotation file itself")
    return source


def read(source: Path, images: ImageLookup) -> Dataset:
    """One COCO file, or a folder in COCO's layout (every split's file, each image in its
    split's folder and in that split of the project)."""
    data = Dataset()
    if source.is_dir() and _split_files(source):
        for path in _split_files(source):
            split = _layout_split(path)
            data.images += _read_file(path, data, images, prefix=f"{split}/",
                                      split=split_named(split))
    else:
        path = _annotation_file(source)
        data.images = _read_file(path, data, images, prefix="",
                                 split=split_named(_split_of_file(path)))
    return data


def _read_file(path: Path, data: Dataset, lookup: ImageLookup, prefix: str,
               split: Split | None) -> list[SourceImage]:
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise FormatError(path, "not a COCO file: expected an object with an 'images' list")
    categories = _categories(doc, path, data)
    images = _images(doc, path, prefix, split)
    annotations = doc.get("annotations", [])
    if not isinstance(annotations, list):
        raise FormatError(path, "'annotations' must be a list")
    seen_ids: set[int | str] = set()
    for k, ann in enumerate(annotations):
        where = f"{path}: annotations[{k}]"
        if not isinstance(ann, dict):
            raise FormatError(path, f"annotations[{k}] is not an object")
        if ann.get("id") is not None:
            ann_id = _id(ann["id"], path, f"annotations[{k}].id")
            if ann_id in seen_ids:
                data.warnings.append(f"{where}: duplicate annotation id {ann_id}")
            seen_ids.add(ann_id)
        image = images.get(_id(ann.get("image_id"), path, f"annotations[{k}].image_id"))
        if image is None:
            raise FormatError(path, f"annotations[{k}] refers to image_id "
                                    f"{ann.get('image_id')!r}, which is not in 'images'")
        category = _id(ann.get("category_id"), path, f"annotations[{k}].category_id")
        if category not in categories:
            raise FormatError(path, f"annotations[{k}] refers to category_id {category!r}, "
                                    "which is not in 'categories'")
        shape = _shape(ann, image, path, f"annotations[{k}]", data, lookup)
        if shape is None:
            continue
        attrs = ann.get("attributes")
        if not isinstance(attrs, dict):
            attrs = {}
        image.instances.append(SourceInstance(
            class_name=categories[category], shape=shape,
            source_id=_int_or_none(attrs.get("instance_id")),
            track_id=_int_or_none(attrs.get("track_id", ann.get("track_id"))),
            z=_int_or_none(attrs.get("z_order")),
            crowd=_crowd(ann.get("iscrowd", 0), path, k),
            score=_score(ann.get("score"), path, k)))
    return list(images.values())


def _categories(doc: dict[str, Any], path: Path, data: Dataset) -> dict[int | str, str]:
    cats = doc.get("categories", [])
    if not isinstance(cats, list):
        raise FormatError(path, "'categories' must be a list")
    by_id: dict[int | str, str] = {}
    for k, cat in enumerate(cats):
        if not isinstance(cat, dict) or "id" not in cat or not isinstance(cat.get("name"), str):
            raise FormatError(path, f"categories[{k}] needs an 'id' and a 'name'")
        label = cat["name"].strip()
        if not label:
            raise FormatError(path, f"categories[{k}] (id {cat['id']!r}) has no name; a class "
                                    "needs one")
        if label in by_id.values():
            data.warnings.append(f"{path}: categories[{k}] repeats the name {label!r}; "
                                 "both ids become one class")
        cat_id = _id(cat["id"], path, f"categories[{k}].id")
        if cat_id in by_id and by_id[cat_id] != label:  # which one do its annotations mean?
            raise FormatError(path, f"categories[{k}] repeats id {cat['id']!r} (already "
                                    f"{by_id[cat_id]!r}, now {label!r})")
        by_id[cat_id] = label
        data.add_class(label)
    return by_id


def _images(doc: dict[str, Any], path: Path, prefix: str,
            split: Split | None) -> dict[int | str, SourceImage]:
    images: dict[int | str, SourceImage] = {}
    for k, img in enumerate(doc["images"]):
        if not isinstance(img, dict) or "id" not in img or "file_name" not in img:
            raise FormatError(path, f"images[{k}] needs an 'id' and a 'file_name'")
        image_id = _id(img["id"], path, f"images[{k}].id")
        if image_id in images:
            raise FormatError(path, f"images[{k}] repeats image id {img['id']!r}")
        width, height = img.get("width"), img.get("height")
        if _is_int(width) and _is_int(height) and width * height > MAX_PIXELS:
            raise FormatError(path, f"images[{k}]: {width}x{height} px is larger than any "
                                    f"image isegui reads ({MAX_PIXELS // 1_000_000} MP)")
        if not (_is_int(width) and _is_int(height) and width > 0 and height > 0):
            raise FormatError(path, f"images[{k}] ({img['file_name']}) needs positive integer "
                                    "'width' and 'height'")
        if not isinstance(img["file_name"], str):
            raise FormatError(path, f"images[{k}].file_name must be a string")
        try:
            file_name = prefix + safe_relative(img["file_name"]).as_posix()
        except UnsafePathError as exc:
            raise UnsafePathError(path, f"images[{k}].file_name {exc}") from None
        images[image_id] = SourceImage(file_name, width, height, split=split, origin=str(path))
    return images


def _id_note(ann: dict[str, Any]) -> str:
    """The annotation's id for a message, as ' (id 7)': its label counts places in the list."""
    return f" (id {ann['id']!r})" if ann.get("id") is not None else ""


def _shape(ann: dict[str, Any], image: SourceImage, path: Path, label: str,
           data: Dataset, lookup: ImageLookup) -> Shape | None:
    where = f"{path}: {label}"
    seg = ann.get("segmentation")
    if isinstance(seg, dict):
        try:
            if [int(v) for v in seg.get("size", [])] != [image.height, image.width]:
                raise ValueError(f"RLE size {seg.get('size')} is not the image's "
                                 f"[{image.height}, {image.width}]")
            _refuse_more_than_the_image(image, lookup, path)
            shape = rle.to_shape(seg)
        except (ValueError, TypeError) as exc:
            raise FormatError(path, f"{label}{_id_note(ann)}: {exc}") from None
        if shape.is_empty:
            data.warnings.append(f"{where}: skipped, its RLE mask is empty")
            return None
        return shape
    if isinstance(seg, list) and seg:
        rings = seg if isinstance(seg[0], list) else [seg]  # a flat list: one polygon
        parts = []
        for n, ring in enumerate(rings):
            try:
                xy = np.asarray(ring, dtype=float) if isinstance(ring, list) else None
            except (TypeError, ValueError):
                xy = None
            if xy is None or xy.ndim != 1 or len(xy) % 2 or not np.isfinite(xy).all():
                raise FormatError(path, f"{label}: polygon {n} must be a flat list of x, y "
                                        "numbers")
            if len(xy) < 6:
                data.warnings.append(f"{where}: polygon {n} has fewer than 3 points; skipped")
                continue
            if beyond_any_image(xy, f"{where} polygon {n}", data):
                continue
            part = repaired_or_warn(Polygon(xy.reshape(-1, 2)), f"{where} polygon {n}", data)
            if part is not None:
                parts.append(part)
        if not parts:
            return None
        # pycocotools joins an annotation's polygons by union; so do we
        return parts[0] if len(parts) == 1 else repaired_or_warn(
            shapely.union_all(parts), where, data)
    bbox = ann.get("bbox")
    if bbox is not None:
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_finite(v) for v in bbox)):
            raise FormatError(path, f"{label}: 'bbox' must be four finite numbers [x, y, w, h]")
        x, y, w, h = (float(v) for v in bbox)
        if not (w > 0 and h > 0):
            data.warnings.append(f"{where}: skipped, no segmentation and its bbox {bbox} has no "
                                 "area (its width and height must be above 0)")
            return None
        if beyond_any_image(np.array([x, y, x + w, y + h]), f"{where} bbox", data):
            return None
        data.warnings.append(f"{where}: no segmentation, its bbox is used as a rectangle")
        return box(x, y, x + w, y + h)
    data.warnings.append(f"{where}: skipped, it has neither a segmentation nor a bbox")
    return None


def _refuse_more_than_the_image(image: SourceImage, lookup: ImageLookup, path: Path) -> None:
    """An RLE is decoded at the size 'images' declares (up to 250 MP): a file declaring more
    pixels than its image has is refused before decoding, from the image's header. An image
    that cannot be read is named by the import later."""
    try:
        width, height = lookup.size(image.file_name)
    except InputFileError:
        return
    declared = (image.width or 0) * (image.height or 0)
    if declared > width * height:
        raise FormatError(path, f"says {image.width}x{image.height} for {image.file_name} but "
                                f"the image is {width}x{height}; its RLE masks were not decoded")


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: object) -> TypeGuard[int | float]:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _id(value: object, path: Path, what: str) -> int | str:
    """An id as COCO files write them: an integer (some tools write strings)."""
    if _is_int(value) or isinstance(value, str):
        return value
    raise FormatError(path, f"{what} must be an integer, not {json.dumps(value)[:40]}")


def _crowd(value: object, path: Path, k: int) -> bool:
    if _is_finite(value) and value in (0, 1) or isinstance(value, bool):
        return bool(value)
    raise FormatError(path, f"annotations[{k}].iscrowd must be 0 or 1, not "
                            f"{json.dumps(value)[:40]}")


def _score(value: object, path: Path, k: int) -> float | None:
    if value is None:
        return None
    if _is_finite(value) and 0 <= value <= 1:
        return float(value)
    raise FormatError(path, f"annotations[{k}].score must be a number from 0 to 1, not "
                            f"{json.dumps(value)[:40]}")


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --------------------------------------------------------------------------- write

def write(dest: Path, images: list[ExportImage], classes: list[LabelClass],
          report: ExportReport) -> None:
    """COCO's layout: annotations/instances_<split>.json per split, file names relative to
    images/<split>/ (where the exporter puts the images)."""
    for split in Split:
        chosen = [image for image in images if image.record.split == split]
        if chosen or (split == Split.TRAIN and not images):  # an empty export: its classes
            target = dest / ANNOTATIONS_DIR / f"{SPLIT_PREFIX}{split.value}.json"
            atomic_write_json(target, _document(chosen, classes, report))
            report.files.append(target)


def _document(images: list[ExportImage], classes: list[LabelClass],
              report: ExportReport) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "info": {"description": "exported by isegui"},
        "licenses": [],
        "images": [],
        "annotations": [],
        "categories": [{"id": c.id, "name": c.name, "supercategory": ""} for c in classes],
    }
    next_id = 1
    for image in images:
        rec = image.record
        doc["images"].append({"id": rec.id, "file_name": image.file_name,
                              "width": rec.width, "height": rec.height})
        for inst in image.instances:
            if inst.class_id is None:  # only regions to ignore: the exporter names the others
                report.lose("regions to ignore that have no class are left out (a COCO crowd "
                            "region needs a category)")
                continue
            ann = _annotation(inst, rec.height, rec.width)
            ann.update(id=next_id, image_id=rec.id, category_id=inst.class_id)
            if image.scores is not None:
                ann["score"] = image.scores.get(inst.id, 0.0)
            doc["annotations"].append(ann)
            next_id += 1
    return doc


def _annotation(inst: Instance, height: int, width: int) -> dict[str, Any]:
    attrs = {"instance_id": inst.id, "z_order": inst.z}
    if inst.track_id is not None:
        attrs["track_id"] = inst.track_id
    ann: dict[str, Any] = {"iscrowd": int(inst.crowd), "attributes": attrs}
    if has_holes(inst.shape):
        mask_rle = rle.from_shape(inst.shape, height, width)
        ann["segmentation"] = mask_rle
        ann["area"] = float(rle.area(mask_rle))
        ann["bbox"] = rle.bbox(mask_rle)
    else:
        ann["segmentation"] = [np.asarray(p.exterior.coords)[:-1].ravel().tolist()
                               for p in polygons_of(inst.shape)]
        minx, miny, maxx, maxy = inst.shape.bounds
        ann["area"] = float(inst.shape.area)
        ann["bbox"] = [minx, miny, maxx - minx, maxy - miny]
    return ann
