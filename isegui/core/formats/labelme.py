"""labelme JSON: one file per image; polygon, rectangle, circle and mask shapes; shapes with the
same (label, group_id) are parts of one instance; the `__ignore__` label marks regions to
ignore. Export writes the parts of an instance as polygons sharing its id as group_id, each
through the centres of its outer pixels, so that labelme's own rasteriser (PIL, outline
included) fills exactly our pixels; an instance no such polygon can give (holes, parts thinner
than two pixels) becomes a `mask` shape. Reading takes other files' polygons by their vertices
(as labelme's COCO conversion does) and our own exports' polygons by labelme's rule.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import os
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import shapely
from PIL import Image, ImageDraw
from shapely.geometry import Polygon, box

from isegui.core.entities import Instance, LabelClass, Split
from isegui.core.errors import FormatError, InputFileError, ShapeError, UnsafePathError
from isegui.core.fileio import atomic_write_json, read_json, safe_relative
from isegui.core.formats.base import (Dataset, ExportImage, ExportReport, ImageLookup,
                                      SourceImage, SourceInstance, beyond_any_image,
                                      repaired_or_warn)
from isegui.core.geometry import (MAX_CROSSINGS, MAX_VERTICES, Shape, bounds_window, has_holes,
                                  polygons_of, rasterize, refuse_if_tangled, traced_vertices,
                                  vectorize)
from isegui.core.images import MAX_PIXELS, PIL_FORMATS, probe

name = "labelme"
description = "labelme JSON (one file per image)"
IGNORE_LABEL = "__ignore__"
BACKGROUND_LABEL = "_background_"
LABELME_VERSION = "5.5.0"
MAX_CIRCLE_VERTICES = 720
CENTRE_OUTLINES = "through outer pixel centres"  # our export's polygons (labelme's own rule)
_REGION_TYPES = {"polygon", "rectangle", "circle", "mask", "oriented_rectangle", None}


def default_image_root(source: Path) -> Path:
    return source if source.is_dir() else source.parent


def image_path(file_name: str, split: Split) -> str:
    return file_name  # beside its JSON file, as labelme keeps them


def read(source: Path, images: ImageLookup) -> Dataset:
    files = sorted(source.rglob("*.json")) if source.is_dir() else [source]
    if not files:
        raise InputFileError(source, "no labelme .json files found")
    data = Dataset()
    for path in files:
        doc = read_json(path)
        if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
            if source.is_dir():
                data.warnings.append(f"{path}: not a labelme file (no 'shapes' list); skipped")
                continue
            raise FormatError(path, "not a labelme file: expected an object with a 'shapes' list")
        data.images.append(_read_file(path, doc, images, data))
    return data


def _read_file(path: Path, doc: dict[str, Any], images: ImageLookup,
               data: Dataset) -> SourceImage:
    root = images.root.resolve()
    folder = path.resolve().parent
    image_data = None
    if doc.get("imageData"):
        try:
            image_data = base64.b64decode(doc["imageData"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise FormatError(path, "'imageData' is not valid base64") from None
    image_path = doc.get("imagePath")
    if isinstance(image_path, str) and image_path:
        # imagePath is relative to the JSON file; it must not lead out of the image root
        target = os.path.normpath(folder / PureWindowsPath(image_path).as_posix())
        file_name = _inside(root, target, image_path, path)
    elif image_data is not None:
        file_name = _inside(root, str(folder / f"{path.stem}{_suffix_of(image_data)}"),
                            path.stem, path)
    else:
        raise FormatError(path, "has neither 'imagePath' nor 'imageData'")
    width, height = (_declared_size(doc.get(key), key, path)
                     for key in ("imageWidth", "imageHeight"))
    if width is not None and height is not None and width * height > MAX_PIXELS:
        raise FormatError(path, f"imageWidth x imageHeight {width}x{height} is larger than "
                                f"any image isegui reads ({MAX_PIXELS // 1_000_000} MP)")
    image = SourceImage(file_name, width, height, image_data=image_data, origin=str(path))
    ours = doc.get("isegui")
    centre_outlines = isinstance(ours, dict) and ours.get("polygons") == CENTRE_OUTLINES
    # what a mask shape may decode to, or an outline be filled in: the image's own size (the
    # JSON's imageWidth may say anything), read from its header only where it is needed
    bound = None
    if centre_outlines or any(isinstance(s, dict) and s.get("shape_type") == "mask"
                              for s in doc["shapes"]):
        bound = _real_size(images, file_name, image_data)
    if bound is None and width is not None and height is not None:
        bound = (width, height)  # no image to read: the import names it later
    # (label, group id or ("single", k)) -> the parts, the first shape and the group id
    groups: dict[tuple[str, int | tuple[str, int]], dict[str, Any]] = {}
    for k, shape in enumerate(doc["shapes"]):
        where = f"{path}: shapes[{k}]"
        if not isinstance(shape, dict) or not isinstance(shape.get("label"), str):
            raise FormatError(path, f"shapes[{k}] needs a 'label'")
        kind = shape.get("shape_type")
        if kind is not None and not isinstance(kind, str):
            raise FormatError(path, f"shapes[{k}]: 'shape_type' must be a name")
        if kind not in _REGION_TYPES:
            data.warnings.append(f"{where}: a {kind} shape is not a region; skipped")
            continue
        label = shape["label"]
        if label == BACKGROUND_LABEL:
            data.warnings.append(f"{where}: the {BACKGROUND_LABEL} label is not an object; "
                                 "skipped")
            continue
        geometry = _geometry(shape, kind, path, k, data, bound, centre_outlines)
        if geometry is None:
            continue
        group = _group_of(shape.get("group_id"), where, data)
        key = (label, group if group is not None else ("single", k))
        entry = groups.setdefault(key, {"parts": [], "shape": shape, "group": group})
        entry["parts"].append(geometry)
    for z, ((label, _), entry) in enumerate(groups.items()):
        merged = (entry["parts"][0] if len(entry["parts"]) == 1 else
                  repaired_or_warn(shapely.union_all(entry["parts"]),
                                   f"{path}: {label} group {entry['group']}", data))
        if merged is None:
            continue
        is_ignore = label == IGNORE_LABEL
        if not is_ignore:
            data.add_class(label)
        flags = entry["shape"].get("flags")
        flags = flags if isinstance(flags, dict) else {}
        image.instances.append(SourceInstance(
            class_name=None if is_ignore else label, shape=merged,
            source_id=entry["group"],
            track_id=_track_id(entry["shape"].get("description")), z=z,
            crowd=is_ignore or bool(flags.get("crowd"))))
    return image


def _group_of(value: object, where: str, data: Dataset) -> int | None:
    """A shape's group_id: 1.0 is group 1, as labelme's own grouping (by Python's equality)
    takes it; None for no group. Anything else (1.5, "1", true) is said, and the shape read as
    an instance of its own."""
    if value is None:
        return None
    group = _whole_number(value)
    if group is None:
        data.warnings.append(f"{where}: group_id {json.dumps(value)[:40]} is not a whole "
                             "number; the shape is read as an instance of its own")
    return group


def _declared_size(value: object, key: str, path: Path) -> int | None:
    """imageWidth or imageHeight: a whole number of pixels (64.0 is 64), or None when not
    given. true is no size, though Python counts it as the integer 1."""
    if value is None:
        return None
    whole = _whole_number(value)
    if whole is None or whole < 1:
        raise FormatError(path, f"'{key}' must be a whole number of pixels above 0, not "
                                f"{json.dumps(value)[:40]}")
    return whole


def _whole_number(value: object) -> int | None:
    """An int, or a float with nothing after the point (as JSON writers may spell 1); None
    for anything else, true and false included."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _inside(root: Path, target: str, written: str, path: Path) -> str:
    rel = os.path.relpath(target, root) if os.path.splitdrive(target)[0] == \
        os.path.splitdrive(str(root))[0] else target
    try:
        return safe_relative(Path(rel).as_posix(), "imagePath").as_posix()
    except UnsafePathError:
        raise UnsafePathError(path, f"imagePath {written!r} leads outside the image folder "
                                    f"{root}; import with --images set to a folder that holds "
                                    "both the JSON files and the images") from None


def _geometry(shape: dict[str, Any], kind: str | None, path: Path, k: int, data: Dataset,
              bound: tuple[int, int] | None, centre_outlines: bool = False) -> Shape | None:
    where = f"{path}: shapes[{k}]"
    try:
        points = np.asarray(shape.get("points"), dtype=float)
        if points.size == 0:
            points = points.reshape(-1, 2)
        if points.ndim != 2 or points.shape[1] != 2:  # [x, y, z] pairs read two by two:
            raise ValueError  # a garbage polygon
    except (TypeError, ValueError):
        raise FormatError(path, f"shapes[{k}]: 'points' must be a list of [x, y]") from None
    if not np.isfinite(points).all():
        raise FormatError(path, f"shapes[{k}]: 'points' holds a value that is not a number")
    if beyond_any_image(points, where, data):
        return None
    if kind == "mask":
        return _mask_shape(shape, points, path, k, bound)
    if kind == "rectangle":
        if len(points) != 2:
            raise FormatError(path, f"shapes[{k}]: a rectangle needs 2 points")
        (x0, y0), (x1, y1) = points
        geometry = box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    elif kind == "circle":
        if len(points) != 2:
            raise FormatError(path, f"shapes[{k}]: a circle needs 2 points")
        (cx, cy), (px, py) = points
        radius = math.hypot(px - cx, py - cy)
        # a vertex a pixel apart, up to a limit: a radius of 1e10 must not mean 6e10 vertices
        n = min(max(16, int(2 * math.pi * radius)), MAX_CIRCLE_VERTICES)
        t = np.linspace(0, 2 * math.pi, n, endpoint=False)
        geometry = Polygon(np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], 1))
    else:
        if len(points) < 3:
            data.warnings.append(f"{where}: a polygon with {len(points)} points; skipped")
            return None
        window = np.ptp(points, axis=0) + 2
        geometry = Polygon(points)
        if centre_outlines and window[0] * window[1] <= (
                bound[0] * bound[1] if bound is not None else MAX_PIXELS):
            # our own export: filled as labelme fills it, traced back exactly. Anyone can write
            # the marker, so a tangled outline is refused as on the plain path (a 24 KB zigzag
            # filled and traced for 30 s and 650 MB)
            return _from_centre_outline(points, geometry, where, data)
    return repaired_or_warn(geometry, where, data)


def _from_centre_outline(points: np.ndarray, outline: Polygon, where: str,
                         data: Dataset) -> Shape | None:
    try:
        if not outline.is_valid:
            refuse_if_tangled(outline, MAX_CROSSINGS)
    except ShapeError as exc:
        data.warnings.append(f"{where}: skipped, {exc}")
        return None
    x0, y0 = np.floor(points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + 1
    pixels = labelme_polygon_mask(points - (x0, y0), y1 - y0, x1 - x0)
    return vectorize(pixels, origin=(int(x0), int(y0)))


def _mask_shape(shape: dict[str, Any], points: np.ndarray, path: Path, k: int,
                bound: tuple[int, int] | None) -> Shape:
    encoded = shape.get("mask")
    if not isinstance(encoded, str) or len(points) < 1:
        raise FormatError(path, f"shapes[{k}]: a mask shape needs 'points' and a 'mask'")
    try:
        with Image.open(io.BytesIO(base64.b64decode(encoded)), formats=PIL_FORMATS) as im:
            if not _fits(im.size, bound):  # checked from the header, before decoding
                image = f"the {bound[0]}x{bound[1]} image" if bound else "any image isegui reads"
                raise FormatError(path, f"shapes[{k}]: its mask is {im.width}x{im.height} "
                                        f"pixels, larger than {image}")
            patch = np.asarray(im).astype(bool)
    except FormatError:
        raise
    except Exception:
        raise FormatError(path, f"shapes[{k}]: 'mask' is not a base64 PNG") from None
    if patch.ndim == 3:
        patch = np.any(patch, axis=2)
    vertices = traced_vertices(patch)
    if vertices > MAX_VERTICES:  # before tracing: a checkerboard took 30 s and GBs
        raise FormatError(path, f"shapes[{k}]: its mask traces to {vertices:,} vertices (at "
                                f"most {MAX_VERTICES:,})")
    x0, y0 = (int(v) for v in np.round(points[0]))
    return vectorize(patch, origin=(x0, y0))


def _real_size(images: ImageLookup, file_name: str,
               image_data: bytes | None) -> tuple[int, int] | None:
    """The image's size from its header: the file's, else imageData's; None when neither
    reads (the import refuses that image later, naming why)."""
    try:
        if image_data is None or (images.root / file_name).exists():
            return images.size(file_name)
        info = probe(images.root / file_name, data=image_data)
        return info.width, info.height
    except InputFileError:
        return None


def _fits(size: tuple[int, int], bound: tuple[int, int] | None) -> bool:
    """A mask of `size` within the image's (turned by 90 degrees too: labels drawn on the
    unrotated pixels of an EXIF-turned image are named later, with that hint)."""
    w, h = size
    if bound is None:
        return w * h <= MAX_PIXELS
    return (w <= bound[0] and h <= bound[1]) or (w <= bound[1] and h <= bound[0])


def _track_id(description: object) -> int | None:
    if isinstance(description, str) and description.startswith("track_id="):
        try:
            return int(description.split("=", 1)[1])
        except ValueError:
            return None
    return None


def _suffix_of(data: bytes) -> str:
    try:
        with Image.open(io.BytesIO(data), formats=PIL_FORMATS) as im:
            return {"JPEG": ".jpg", "PNG": ".png", "BMP": ".bmp", "TIFF": ".tif"}.get(
                im.format or "", ".png")
    except Exception:
        return ".png"


# --------------------------------------------------------------------------- write

def write(dest: Path, images: list[ExportImage], classes: list[LabelClass],
          report: ExportReport) -> None:
    names = {c.id: c.name for c in classes}
    for image in images:
        rel = PurePosixPath(image.file_name)
        shapes = []
        for inst in sorted(image.instances, key=lambda i: (i.z, i.id)):
            label = None if inst.class_id is None else names.get(inst.class_id)
            if label is None and not inst.crowd:
                report.lose(f"instances without a class are left out (first: image "
                            f"{image.file_name}, instance {inst.id})")
                continue
            shapes.extend(_shapes_of(inst, label or IGNORE_LABEL, image))
        if image.scores is not None:
            report.lose("labelme has no place for prediction scores; they are left out")
        doc = {"version": LABELME_VERSION, "flags": {}, "shapes": shapes,
               "imagePath": rel.name, "imageData": None,
               "imageHeight": image.record.height, "imageWidth": image.record.width,
               # labelme keeps keys it does not know: tells our reader how polygons were drawn
               "isegui": {"polygons": CENTRE_OUTLINES}}
        target = dest / rel.parent / f"{rel.stem}.json"
        atomic_write_json(target, doc, indent=2)
        report.files.append(target)


def _shapes_of(inst: Instance, label: str, image: ExportImage) -> list[dict[str, Any]]:
    common = {"label": label, "group_id": inst.id,
              "description": "" if inst.track_id is None else f"track_id={inst.track_id}",
              "flags": {"crowd": True} if inst.crowd and label != IGNORE_LABEL else {}}
    if has_holes(inst.shape):
        return [_mask_shape_of(inst.shape, image.record.height, image.record.width, common)]
    h, w = image.record.height, image.record.width
    traced = [_centre_outline(part, h, w) for part in polygons_of(inst.shape)]
    if any(points is None for points in traced):
        return [_mask_shape_of(inst.shape, h, w, common)]
    return [{**common, "shape_type": "polygon", "points": points} for points in traced]


def _mask_shape_of(shape: Shape, height: int, width: int,
                   common: dict[str, Any]) -> dict[str, Any]:
    x0, y0, x1, y1 = bounds_window(shape, height, width)
    patch = rasterize(shape, y1 - y0, x1 - x0, origin=(x0, y0))
    buf = io.BytesIO()
    Image.fromarray(patch.astype(np.uint8)).save(buf, format="PNG")
    # labelme's mask points are the first and the last pixel of the patch, inclusive
    return {**common, "shape_type": "mask",
            "points": [[float(x0), float(y0)], [float(x1 - 1), float(y1 - 1)]],
            "mask": base64.b64encode(buf.getvalue()).decode("ascii")}


def _centre_outline(part: Polygon, height: int, width: int) -> list[list[float]] | None:
    """The polygon through the centres of the part's outer pixels, which labelme's own
    rasteriser (`labelme_polygon_mask`) fills back to exactly the part's pixels; None where no
    polygon can (a part thinner than two pixels somewhere, a hole, several pieces)."""
    x0, y0, x1, y1 = bounds_window(part, height, width)
    pixels = rasterize(part, y1 - y0, x1 - x0, origin=(x0, y0))
    contours, _ = cv2.findContours(pixels.astype(np.uint8), cv2.RETR_CCOMP,
                                   cv2.CHAIN_APPROX_SIMPLE)
    if len(contours) != 1 or len(contours[0]) < 3:
        return None
    points = contours[0][:, 0, :]
    if not np.array_equal(labelme_polygon_mask(points, y1 - y0, x1 - x0), pixels):
        return None
    outline: list[list[float]] = (points + (x0, y0)).astype(float).tolist()
    return outline


def labelme_polygon_mask(points: npt.ArrayLike, height: int, width: int) -> np.ndarray:
    """A polygon's pixels as labelme draws them (labelme.utils.shape_to_mask): PIL fills it
    and its outline, integer coordinates at pixel centres. Ours trace pixel edges instead
    (core.geometry), so a labelme polygon of ours goes through pixel centres."""
    canvas = Image.new("L", (width, height), 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in np.asarray(points, float)], fill=1,
                                   outline=1)
    return np.asarray(canvas, dtype=bool)
