"""Synthetic inspection frames: large images of brushed metal with small defects (scratches
2-4 px wide, pits 6-15 px across, faint stains 30-100 px) and things that are not defects
(bright dust, fibres, a reflection band). Sizes are in the camera's pixels whatever the frame
size, so a 2448x2048 frame holds defects far too small to survive shrinking the whole frame.

Labels are exactly the painted regions (each defect is painted through the raster of its label);
the distractors are kept a few pixels away from every label. The same generator feeds
`isegui demo --kind defects`, the tiled-training benchmarks and tests (other seeds)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, Polygon
from shapely.geometry.base import BaseGeometry

from isegui.core.demo import DemoObject, write_synthetic_project
from isegui.core.geometry import Shape, bounds_window, polygons_of, rasterize, repair
from isegui.core.progress import Progress, no_progress
from isegui.core.project import Project

CLASSES = (("scratch", "#f58231"), ("pit", "#911eb4"), ("stain", "#42d4f4"))
# 32 train and 8 val frames: each frame holds 3-8 defects, so ~180 labeled instances in all
DEFECT_FRAMES = 40
FRAME_SIZE = (2448, 2048)  # a common 5-MP machine-vision sensor
CLASS_ODDS = (0.45, 0.3, 0.25)  # scratch, pit, stain
DEFECT_GAP = 12  # px between two defects' labels
DISTRACTOR_GAP = 6  # px between a distractor and any label (more than the optics' blur)
SHADING_STEP = 8  # the smooth shading is computed on a grid this many times coarser


@dataclass(frozen=True)
class DefectFrame:
    image: np.ndarray  # RGB uint8
    objects: list[DemoObject]  # the labeled defects
    distractors: np.ndarray  # bool (H, W): dust and fibres, never inside a label


def generate_frame(seed: int, width: int = FRAME_SIZE[0], height: int = FRAME_SIZE[1]
                   ) -> tuple[np.ndarray, list[DemoObject]]:
    """An RGB uint8 frame and its labeled defects."""
    frame = render_frame(seed, width, height)
    return frame.image, frame.objects


def render_frame(seed: int, width: int = FRAME_SIZE[0], height: int = FRAME_SIZE[1]
                 ) -> DefectFrame:
    """The frame, its defects and where the (unlabeled) distractors are."""
    rng = np.random.default_rng(seed)
    gray = _metal(rng, width, height)
    tint = np.array([0.97, 1.0, 1.04], dtype=np.float32) * rng.uniform(0.98, 1.02, 3)
    image = gray[:, :, None] * tint.astype(np.float32)
    objects = _place_defects(rng, width, height)
    labels = np.zeros((height, width), dtype=bool)
    for o in objects:
        x0, y0, x1, y1 = _window(o.shape, height, width, pad=2)
        mask = rasterize(o.shape, y1 - y0, x1 - x0, origin=(x0, y0))
        _PAINTERS[o.class_name](image[y0:y1, x0:x1], mask, o.shape, (x0, y0), rng)
        labels[y0:y1, x0:x1] |= mask
    layer = _distractors(rng, labels)
    image += layer[:, :, None].astype(np.float32) * np.array([1.0, 0.98, 0.95], np.float32)
    image = cv2.GaussianBlur(image, (3, 3), 0.6)  # the lens: no edge is one pixel sharp
    # not +=: cv2's stubs type the blurred image as integer-or-float, which += refuses
    image = image + (rng.standard_normal((height, width), dtype=np.float32) * 1.6)[:, :, None]
    return DefectFrame(np.clip(image, 0, 255).astype(np.uint8), objects, layer > 0)


# --------------------------------------------------------------------------- the metal

def _metal(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Gray float32 brushed metal: streaks along the brushing direction over smooth shading
    and a soft reflection band."""
    along, across = (width, height) if rng.random() < 0.6 else (height, width)
    length = int(rng.integers(150, 400)) | 1
    fine = rng.standard_normal((across, along), dtype=np.float32)
    coarse = rng.standard_normal((across, along), dtype=np.float32)
    # box blurs along the rows: streaks 1 px and ~4 px wide, `length` px long
    streaks = cv2.blur(fine, (length, 1)) * (2.6 * math.sqrt(length))
    streaks += cv2.blur(coarse, (length, 5)) * (3.2 * math.sqrt(length * 5))
    if (along, across) != (width, height):
        streaks = np.ascontiguousarray(streaks.T)
    metal: np.ndarray = streaks + _shading(rng, width, height)
    return metal


def _shading(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    w, h = max(2, -(-width // SHADING_STEP)), max(2, -(-height // SHADING_STEP))
    blobs = rng.standard_normal((max(2, h // 24 + 2), max(2, w // 24 + 2))).astype(np.float32)
    smooth = cv2.resize(blobs, (w, h), interpolation=cv2.INTER_CUBIC) * 4.0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) * SHADING_STEP
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (xx * math.cos(angle) + yy * math.sin(angle)) / max(width, height)
    level = rng.uniform(125, 165) + 14 * ramp + smooth
    # the reflection band: a wide soft stripe of light across the part
    band_angle = rng.uniform(0, math.pi)
    cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    d = (xx - cx) * math.cos(band_angle) + (yy - cy) * math.sin(band_angle)
    sigma = rng.uniform(0.03, 0.09) * max(width, height)
    level += rng.uniform(14, 30) * np.exp(-0.5 * (d / sigma) ** 2)
    full_size: np.ndarray = cv2.resize(level, (width, height), interpolation=cv2.INTER_LINEAR)
    return full_size


# --------------------------------------------------------------------------- the defects

def _place_defects(rng: np.random.Generator, width: int, height: int) -> list[DemoObject]:
    kinds = rng.choice(["scratch", "pit", "stain"], size=int(rng.integers(3, 9)), p=CLASS_ODDS)
    placed: list[DemoObject] = []
    for kind in kinds:
        for _ in range(60):  # a free spot, or give this defect up
            shape = _SHAPERS[str(kind)](rng, width, height)
            if shape is not None and all(shape.distance(o.shape) > DEFECT_GAP for o in placed):
                placed.append(DemoObject(str(kind), shape))
                break
    return placed


def _inside(rng: np.random.Generator, shape: BaseGeometry, width: int, height: int,
            margin: float = 4) -> Shape | None:
    """`shape` (made around the origin) moved to a random spot where it fits, or None."""
    minx, miny, maxx, maxy = shape.bounds
    if maxx - minx > width - 2 * margin or maxy - miny > height - 2 * margin:
        return None
    dx = rng.uniform(margin - minx, width - margin - maxx)
    dy = rng.uniform(margin - miny, height - margin - maxy)
    parts = polygons_of(repair(affinity.translate(shape, dx, dy)).shape)
    return parts[0] if len(parts) == 1 else None


def _scratch(rng: np.random.Generator, width: int, height: int) -> Shape | None:
    """A polyline 2-4 px wide, 40-400 px long; about half gently curved."""
    if rng.random() < 0.35:
        length = rng.uniform(300, 400)  # long enough to cross tile borders
    else:
        length = math.exp(rng.uniform(math.log(40), math.log(300)))
    length = min(length, 0.8 * min(width, height))
    bow = rng.uniform(0.02, 0.06) * length * rng.choice([-1, 1]) if rng.random() < 0.5 else 0.0
    t = np.linspace(0, 1, max(3, int(length / 12)))
    x = (t - 0.5) * length
    y = 4 * bow * t * (1 - t)  # a parabola bowing `bow` px at the middle
    line = affinity.rotate(LineString(np.column_stack([x, y])), rng.uniform(0, 180),
                           origin=(0, 0))
    return _inside(rng, line.buffer(rng.uniform(2, 4) / 2, quad_segs=2), width, height)


def _pit(rng: np.random.Generator, width: int, height: int) -> Shape | None:
    """A round-ish hole 6-15 px across."""
    across = rng.uniform(7, 15)
    radii = np.array([across / 2, max(6.5, across * rng.uniform(0.8, 1.0)) / 2])
    theta = np.linspace(0, 2 * math.pi, 20, endpoint=False)
    wobble = 1 + 0.04 * rng.standard_normal(len(theta))
    ring = np.column_stack([radii[0] * np.cos(theta), radii[1] * np.sin(theta)]) * wobble[:, None]
    shape = affinity.rotate(Polygon(ring), rng.uniform(0, 180), origin=(0, 0))
    return _inside(rng, shape, width, height)


def _stain(rng: np.random.Generator, width: int, height: int) -> Shape | None:
    """An irregular blotch 30-100 px across."""
    across = rng.uniform(36, 100)
    minor = max(34.0, across * rng.uniform(0.65, 1.0))
    theta = np.linspace(0, 2 * math.pi, 48, endpoint=False)
    r = np.ones_like(theta)
    for k in (2, 3, 5):  # a few smooth lobes
        r += rng.uniform(0.03, 0.1) * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
    ring = np.column_stack([across / 2 * r * np.cos(theta), minor / 2 * r * np.sin(theta)])
    shape = affinity.rotate(Polygon(ring), rng.uniform(0, 180), origin=(0, 0))
    return _inside(rng, shape, width, height)


_SHAPERS = {"scratch": _scratch, "pit": _pit, "stain": _stain}


def _window(shape: Shape, height: int, width: int, pad: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = bounds_window(shape, height, width)
    return max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)


def _inner_distance(mask: np.ndarray) -> np.ndarray:
    """Per pixel of `mask`: how far (px) it lies from the nearest pixel outside."""
    return cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)


def _paint_scratch(region: np.ndarray, mask: np.ndarray, shape: Shape,
                   origin: tuple[int, int], rng: np.random.Generator) -> None:
    """Brighter or darker than the metal, fading toward both ends and varying along."""
    rect = shapely.get_coordinates(shape.minimum_rotated_rectangle)[:3]
    sides = [rect[1] - rect[0], rect[2] - rect[1]]
    axis = max(sides, key=lambda v: np.hypot(*v))
    axis = axis / max(1e-6, float(np.hypot(*axis)))
    ys, xs = np.nonzero(mask)
    along = (xs + origin[0]) * axis[0] + (ys + origin[1]) * axis[1]
    t = (along - along.min()) / max(1.0, float(np.ptp(along)))
    fade = np.clip(np.minimum(t, 1 - t) / 0.15, 0.45, 1.0)
    waves = 0.85 + 0.15 * np.sin(2 * math.pi * rng.uniform(1, 4) * t + rng.uniform(0, 6.3))
    sign = 1.0 if rng.random() < 0.55 else -1.0
    delta = sign * rng.uniform(18, 32) * fade * waves
    region[ys, xs] += delta[:, None].astype(np.float32)


def _paint_pit(region: np.ndarray, mask: np.ndarray, shape: Shape,
               origin: tuple[int, int], rng: np.random.Generator) -> None:
    """A dark hole, darkest in the middle, inside a thin lighter rim."""
    depth = _inner_distance(mask)
    rim = mask & (depth <= 1.0)  # the outermost pixels: thin, so the pit is dark overall
    inner = mask & ~rim
    core = np.clip((depth - 1.0) / max(1.0, float(depth.max()) - 1.0), 0, 1)
    region[rim] += rng.uniform(18, 30)
    region[inner] -= (rng.uniform(40, 70) * (0.6 + 0.4 * core[inner]))[:, None]


def _paint_stain(region: np.ndarray, mask: np.ndarray, shape: Shape,
                 origin: tuple[int, int], rng: np.random.Generator) -> None:
    """A faint discoloration (darker and warmer, sometimes lighter) with soft edges."""
    depth = _inner_distance(mask)
    ramp = max(3.0, 0.3 * float(depth.max()))
    s = np.clip(depth / ramp, 0, 1)
    weight = 0.35 + 0.65 * s * s * (3 - 2 * s)  # smoothstep, never 0 inside the label
    h, w = mask.shape
    mottle = cv2.resize(rng.standard_normal((4, 4)).astype(np.float32), (w, h),
                        interpolation=cv2.INTER_CUBIC)
    weight = weight * (0.85 + 0.15 * np.clip(mottle, -1.5, 1.5))
    strength = rng.uniform(10, 18) * (1.0 if rng.random() < 0.8 else -0.7)
    color = np.array([-0.7, -0.95, -1.35], dtype=np.float32) * strength  # rust/oil: warm
    region[mask] += weight[mask][:, None] * color


_PAINTERS = {"scratch": _paint_scratch, "pit": _paint_pit, "stain": _paint_stain}


# --------------------------------------------------------------------------- the distractors

def _distractors(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """A uint8 layer of added brightness: dust specks (1-5 px, single and in clusters) and a
    few short fibres, all at least DISTRACTOR_GAP px from every label."""
    height, width = labels.shape
    size = 2 * DISTRACTOR_GAP + 1
    near = cv2.dilate(labels.astype(np.uint8), np.ones((size, size), np.uint8)) > 0
    layer = np.zeros((height, width), dtype=np.uint8)
    megapixels = width * height / 1e6

    def free(x: float, y: float, r: float) -> bool:
        xi, yi, ri = int(round(x)), int(round(y)), int(math.ceil(r))
        if not (ri <= xi < width - ri and ri <= yi < height - ri):
            return False
        return not near[yi - ri:yi + ri + 1, xi - ri:xi + ri + 1].any()

    def speck(x: float, y: float) -> None:
        r = rng.uniform(0.5, 2.5)
        if not free(x, y, r):
            return
        value = int(rng.integers(60, 120))
        if r < 1:
            layer[int(y), int(x)] = max(layer[int(y), int(x)], value)
        else:
            cv2.circle(layer, (int(round(x)), int(round(y))), int(round(r)), value, -1,
                       cv2.LINE_AA)

    for _ in range(int(rng.uniform(10, 25) * megapixels) + 3):
        speck(rng.uniform(0, width), rng.uniform(0, height))
    for _ in range(int(rng.integers(1, 4) + megapixels // 2)):  # clusters
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        spread = rng.uniform(6, 25)
        for _ in range(int(rng.integers(4, 14))):
            speck(cx + rng.normal(0, spread), cy + rng.normal(0, spread))
    for _ in range(int(rng.integers(1, 3) + megapixels // 2)):  # fibres
        steps = int(rng.integers(3, 7))
        heading = rng.uniform(0, 2 * math.pi) + np.cumsum(rng.normal(0, 0.5, steps))
        step = rng.uniform(15, 70) / steps
        start = np.array([rng.uniform(0, width), rng.uniform(0, height)])
        points = start + np.cumsum(np.column_stack([np.cos(heading), np.sin(heading)]) * step,
                                   axis=0)
        points = np.vstack([start, points])
        dense = [points[k] + (points[k + 1] - points[k]) * f for k in range(steps)
                 for f in np.linspace(0, 1, int(step) + 2)]
        if all(free(x, y, 2) for x, y in dense):
            cv2.polylines(layer, [np.round(points).astype(np.int32)], False,
                          int(rng.integers(45, 90)), int(rng.integers(1, 3)), cv2.LINE_AA)
    return layer


# --------------------------------------------------------------------------- the project

def create_defects_project(folder: str | Path, n_images: int = DEFECT_FRAMES, seed: int = 0,
                           width: int = FRAME_SIZE[0], height: int = FRAME_SIZE[1],
                           progress: Progress = no_progress) -> Project:
    """A new, labeled project of synthetic inspection frames, split 80/20 into train and val.
    Frames are PNG: lossless, so 2-px scratches survive."""
    return write_synthetic_project(folder, "isegui defects demo", CLASSES, generate_frame,
                                   "frame_{:03d}.png", n_images, seed, width, height, progress)
