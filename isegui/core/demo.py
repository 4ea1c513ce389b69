"""Synthetic shop-floor scenes made on the fly: pills (touching and overlapping), washers with
holes, chips with pins, on a conveyor belt. Labels are the visible part of each object, so
touching objects share a border exactly; the image is painted from the same rasters.

The same generator feeds the demo project and the training benchmarks (other seeds)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import cv2
import numpy as np
import numpy.typing as npt
import shapely
from shapely import affinity
from shapely.geometry import Point, Polygon, box

from isegui.core.entities import ImageStatus, Source, Split
from isegui.core.errors import InputFileError
from isegui.core.fileio import refuse_link
from isegui.core.geometry import Shape, bounds_window, polygons_of, rasterize, repair
from isegui.core.images import save_image
from isegui.core.progress import Progress, no_progress
from isegui.core.project import IMAGES_DIR, Project
from isegui.core.splits import assign_splits

CLASSES = (("pill", "#e6194b"), ("washer", "#4363d8"), ("chip", "#3cb44b"))
# 48 train and 12 val scenes: enough that a first 5-minute CPU run finds most of the parts
# on the val scenes, and that its val figures are not the luck of a handful of images
DEMO_IMAGES = 60
MIN_VISIBLE_AREA = 40.0  # px²: an object hidden more than this is not labeled


@dataclass(frozen=True)
class DemoObject:
    class_name: str
    shape: Shape  # the visible part


# (seed, width, height) -> an RGB uint8 image and its labeled objects
SceneGenerator: TypeAlias = Callable[[int, int, int], tuple[np.ndarray, list[DemoObject]]]
# an object's colours by part: "a", and "b" (a capsule's other half) or "pins"
_Style: TypeAlias = dict[str, tuple[int, int, int]]


def generate_scene(seed: int, width: int = 512, height: int = 384
                   ) -> tuple[np.ndarray, list[DemoObject]]:
    """An RGB uint8 image and its labeled objects, bottom to top."""
    rng = np.random.default_rng(seed)
    scale = min(width, height) / 384.0
    placed: list[tuple[str, Shape, _Style]] = []
    for _ in range(int(rng.integers(6, 15))):
        kind = str(rng.choice(["pill", "washer", "chip"], p=[0.45, 0.3, 0.25]))
        shape = _make(kind, rng, scale)
        cx, cy = _position(rng, width, height, placed, scale)
        shape = affinity.translate(shape, cx, cy)
        placed.append((kind, shape, _paint_style(kind, rng)))
    image = _background(rng, width, height)
    objects: list[DemoObject] = []
    for k, (kind, shape, style) in enumerate(placed):
        above = shapely.union_all([s for _, s, _ in placed[k + 1:]]) if k + 1 < len(placed) \
            else Polygon()
        visible = shape.difference(above).intersection(box(0, 0, width, height))
        _paint(image, shape, style, rng)
        if visible.is_empty or visible.area < MIN_VISIBLE_AREA:
            continue
        parts = [p for p in polygons_of(repair(visible).shape) if p.area >= MIN_VISIBLE_AREA / 4]
        if parts:
            objects.append(DemoObject(kind, parts[0] if len(parts) == 1 else
                                      shapely.MultiPolygon(parts)))
    image = cv2.GaussianBlur(image, (3, 3), 0.6)
    noise = rng.normal(0, 3.0, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8), objects


def _make(kind: str, rng: np.random.Generator, scale: float) -> Shape:
    angle = float(rng.uniform(0, 180))
    if kind == "pill":
        length, radius = rng.uniform(44, 72) * scale, rng.uniform(9, 14) * scale
        core = box(-length / 2 + radius, -radius, length / 2 - radius, radius)
        shape = core.union(Point(-length / 2 + radius, 0).buffer(radius, 12)).union(
            Point(length / 2 - radius, 0).buffer(radius, 12))
    elif kind == "washer":
        outer = rng.uniform(17, 30) * scale
        shape = Point(0, 0).buffer(outer, 16).difference(
            Point(0, 0).buffer(outer * rng.uniform(0.38, 0.55), 12))
    else:
        w, h = rng.uniform(30, 48) * scale, rng.uniform(20, 30) * scale
        pin_w, pin_l = 3.0 * scale, 5.0 * scale
        pins = [box(x - pin_w / 2, side * h / 2 - (pin_l if side < 0 else 0),
                    x + pin_w / 2, side * h / 2 + (pin_l if side > 0 else 0))
                for side in (-1, 1) for x in np.linspace(-w / 2 + 5 * scale, w / 2 - 5 * scale,
                                                         int(max(2, w // (8 * scale))))]
        shape = shapely.union_all([box(-w / 2, -h / 2, w / 2, h / 2), *pins])
    rotated = affinity.rotate(shape, angle, origin=(0, 0))
    assert isinstance(rotated, Polygon)  # every kind is made in one piece
    return rotated


def _position(rng: np.random.Generator, width: int, height: int,
              placed: list[tuple[str, Shape, _Style]], scale: float) -> tuple[float, float]:
    """Mostly free spots; sometimes right next to (touching) or on top of an earlier object."""
    if placed and rng.random() < 0.45:
        _, other, _ = placed[int(rng.integers(len(placed)))]
        c = other.centroid
        direction = rng.uniform(0, 2 * math.pi)
        gap = rng.uniform(16, 34) * scale
        return (float(np.clip(c.x + gap * math.cos(direction), 20, width - 20)),
                float(np.clip(c.y + gap * math.sin(direction), 20, height - 20)))
    return float(rng.uniform(30, width - 30)), float(rng.uniform(30, height - 30))


def _paint_style(kind: str, rng: np.random.Generator) -> _Style:
    if kind == "pill":
        colors = [(235, 235, 225), (200, 60, 50), (60, 90, 190), (230, 190, 40)]
        return {"a": colors[0], "b": colors[int(rng.integers(1, len(colors)))]}
    if kind == "washer":
        v = int(rng.integers(140, 200))  # steel: grey with a cool tint
        return {"a": (v, v + 4, v + 10)}
    return {"a": (35, 38, 40), "pins": (190, 180, 150)}


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    base = rng.uniform(85, 115)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    shade = base + 18 * (xx / width) - 10 * (yy / height)
    belt: npt.NDArray[np.float32] = shade + 4 * np.sin(yy / rng.uniform(3, 6))  # its ridges
    tint = np.array([1.0, 1.02, 1.05], dtype=np.float32)
    return belt[:, :, None] * tint


def _paint(image: np.ndarray, shape: Shape, style: _Style, rng: np.random.Generator) -> None:
    h, w = image.shape[:2]
    x0, y0, x1, y1 = bounds_window(shape, h, w)
    if x1 <= x0 or y1 <= y0:
        return
    # a soft shadow below and to the right, then the object
    shadow = rasterize(affinity.translate(shape, 3, 4), y1 - y0, x1 - x0, origin=(x0, y0))
    region = image[y0:y1, x0:x1]
    region[shadow] *= 0.65
    inside = rasterize(shape, y1 - y0, x1 - x0, origin=(x0, y0))
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    c = shape.centroid
    light = 1.0 + 0.25 * ((c.x - xx) + (c.y - yy)) / max(1.0, math.sqrt(shape.area))
    color = np.array(style["a"], dtype=np.float32)
    if "b" in style:  # a two-tone capsule: split across its long axis
        p = shapely.get_coordinates(shapely.minimum_rotated_rectangle(shape))  # its corners
        long_axis = p[1] - p[0] if np.hypot(*(p[1] - p[0])) > np.hypot(*(p[2] - p[1])) \
            else p[2] - p[1]
        side = (xx - c.x) * long_axis[0] + (yy - c.y) * long_axis[1] > 0
        paint = np.where(side[..., None], color, np.array(style["b"], dtype=np.float32))
    else:
        paint = np.broadcast_to(color, inside.shape + (3,)).copy()
    if "pins" in style:
        body = rasterize(shapely.minimum_rotated_rectangle(shape).buffer(-4), y1 - y0, x1 - x0,
                         origin=(x0, y0))
        paint[~body] = style["pins"]
    region[inside] = np.clip(paint[inside] * light[inside][:, None], 0, 255)


def create_demo_project(folder: str | Path, n_images: int = DEMO_IMAGES, seed: int = 0,
                        width: int = 512, height: int = 384,
                        progress: Progress = no_progress) -> Project:
    """A new, labeled project of synthetic scenes, split 80/20 into train and val."""
    return write_synthetic_project(folder, "isegui demo", CLASSES, generate_scene,
                                   "scene_{:03d}.jpg", n_images, seed, width, height, progress)


def write_synthetic_project(folder: str | Path, name: str, classes: Sequence[tuple[str, str]],
                            generate: SceneGenerator, file_name: str,
                            n_images: int, seed: int, width: int, height: int,
                            progress: Progress = no_progress) -> Project:
    """A new project of `n_images` made by `generate(seed, width, height)` -> (image, objects),
    saved as `file_name.format(k)` under the images folder, labeled with `classes` ((name,
    colour) pairs), split 80/20 into train and val. The images are new files: a folder that
    already holds one of their names, or whose images folder is a link, is refused before
    anything is written (a user's own scene_000.jpg is never replaced)."""
    _refuse_taken_names(Path(folder), [file_name.format(k) for k in range(n_images)])
    project = Project.create(folder, name=name)
    try:
        store = project.store
        with store.transaction():
            ids = {class_name: store.add_class(class_name, color).id
                   for class_name, color in classes}
            for k in range(n_images):
                image, objects = generate(seed * 100_003 + k, width, height)
                rel = f"{IMAGES_DIR}/{file_name.format(k)}"
                save_image(project.folder / rel, image)
                record = store.add_image(rel, width, height, Split.TRAIN, ImageStatus.LABELED)
                store.add_instances(record.id, [(ids[o.class_name], o.shape, None, None,
                                                 Source.MANUAL, False) for o in objects])
                progress(k + 1, n_images, rel)
            assign_splits(project, val=0.2, test=0.0, seed=seed)
    except BaseException:
        project.close()
        raise
    return project


def _refuse_taken_names(folder: Path, names: list[str]) -> None:
    images = folder / IMAGES_DIR
    refuse_link(images)  # written through, the demo's files would land elsewhere
    if not images.is_dir():
        return
    taken = [n for n in names if os.path.lexists(images / n)]
    if taken:
        raise InputFileError(images / taken[0], f"already exists ({len(taken)} of the demo's "
                             "file names are taken); the demo writes only new files: choose "
                             "a new or empty folder")
