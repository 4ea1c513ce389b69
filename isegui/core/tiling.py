"""Tiles: how a run sees frames of any size. No torch.

A run has a working scale (`WorkingScale`): the whole image resized so its long side is S (the
way for small images with large objects), or tiles of S x S model pixels at scale k of the
frame (k = 1: the camera's pixels), so that small objects in large frames keep their pixels.
Everything here is in native frame pixels: a tile at scale k covers S / k of them.

This module owns the grid of tiles over a frame, the windows of training crops, what an
instance cut by a crop becomes, and the merging of detections that tiles cut or saw twice back
into one instance per object. Masks stay box-local windows (bool array + frame origin).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeAlias

import numpy as np
from shapely import affinity
from shapely.geometry import MultiPolygon
from shapely.geometry import box as rectangle

from isegui.core.geometry import Shape, polygons_of

WHOLE, TILES = "whole", "tiles"
OVERLAP_SHARE = 0.2  # neighbouring tiles share at least this much of their side (SAHI's 0.2)
MERGE_IOU = 0.3  # same-class pieces this alike where two tiles overlap are one object
NMS_IOU = 0.5  # then, of two same-class detections this alike on the frame, the lower goes
KEEP_SHARE = 0.5  # an instance cut by a crop stays an object with this share visible ...
KEEP_EXTENT_PX = 40  # ... or with a visible piece this long (model px): a long scratch's part

Rect: TypeAlias = tuple[int, int, int, int]  # (x0, y0, x1, y1), frame px


@dataclass(frozen=True)
class WorkingScale:
    """How a run sees its images: `mode` WHOLE (long side resized to `size`) or TILES
    (`size` x `size` tiles at `scale` of the frame), and why it was chosen."""
    mode: str = WHOLE
    size: int = 512
    scale: float = 1.0  # tiles only: model pixels per frame pixel
    reason: str = ""
    # tiles only: classes found pixel by pixel and split by connected components (ml.blobs)
    blob_classes: tuple[str, ...] = ()
    # per blob class, the (least, most) area in model px² of a blob that counts as an object
    blob_areas: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in (WHOLE, TILES):
            raise ValueError(f"working scale: unknown mode {self.mode!r}")
        if self.mode == TILES and not (0.05 <= self.scale <= 4.0):
            raise ValueError(f"--scale must be between 0.05 and 4, got {self.scale}")
        if self.blob_classes and self.mode != TILES:
            raise ValueError("blob classes are found on tiles only")

    @property
    def tiled(self) -> bool:
        return self.mode == TILES

    @property
    def window(self) -> int:
        """The side of a tile in frame pixels."""
        return max(1, round(self.size / self.scale)) if self.tiled else self.size

    def describe(self) -> str:
        if self.tiled:
            return f"tiles of {self.size} px at scale {self.scale:g} " \
                   f"({self.window} x {self.window} frame px each)"
        return f"whole images at {self.size} px"

    def blob_labels(self, classes: Sequence[str]) -> list[int]:
        """The 1-based indices, in `classes`, of the blob classes."""
        return [list(classes).index(name) + 1 for name in self.blob_classes if name in classes]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "blob_classes": list(self.blob_classes),
                "blob_areas": [list(pair) for pair in self.blob_areas]}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, size: int = 512) -> WorkingScale:
        """A stored working scale; runs from before tiles have none: the whole image."""
        if not data:
            return cls(WHOLE, int(size))
        return cls(str(data.get("mode", WHOLE)), int(data.get("size", size)),
                   float(data.get("scale", 1.0)), str(data.get("reason", "")),
                   tuple(str(c) for c in data.get("blob_classes") or ()),
                   tuple((float(lo), float(hi)) for lo, hi in data.get("blob_areas") or ()))


# ---------------------------------------------------------------------------- the grid

def positions(length: int, window: int, overlap: int) -> list[int]:
    """Starts of windows covering [0, length): evenly spread, neighbours sharing at least
    `overlap`, the last one ending at the end."""
    if length <= window:
        return [0]
    stride = max(1, window - overlap)
    count = math.ceil((length - window) / stride) + 1
    step = (length - window) / (count - 1)
    return [round(k * step) for k in range(count)]


def tile_grid(width: int, height: int, window: int,
              overlap: int | None = None) -> list[Rect]:
    """The tiles over a frame as (x0, y0, x1, y1) in frame pixels, row by row. Tiles are
    `window` wide (less where the frame is smaller) and overlap by at least `overlap`."""
    overlap = round(OVERLAP_SHARE * window) if overlap is None else overlap
    xs, ys = positions(width, window, overlap), positions(height, window, overlap)
    return [(x, y, min(width, x + window), min(height, y + window)) for y in ys for x in xs]


def window_around(bounds: tuple[float, float, float, float], window: int, width: int,
                  height: int, rng: np.random.Generator) -> tuple[int, int]:
    """The top-left corner of a training crop holding the box `bounds` at a random place
    (a random part of it when it is larger than the crop), inside the frame."""
    def start(lo: float, hi: float, length: int) -> int:
        if length <= window:
            return 0
        if hi - lo <= window:  # the whole object fits: anywhere it stays inside
            first, last = math.ceil(hi) - window, math.floor(lo)
        else:  # larger than the crop: a random part of it
            first, last = math.floor(lo), math.ceil(hi) - window
        first, last = max(0, first), min(length - window, last)
        return int(rng.integers(first, last + 1)) if last >= first else \
            int(min(max(0, first), length - window))
    x0, y0, x1, y1 = bounds
    return start(x0, x1, width), start(y0, y1, height)


def crop_shape(shape: Shape, origin: tuple[int, int], window: int, scale: float
               ) -> tuple[Shape | None, bool]:
    """An instance as a crop at `origin` (frame px) sees it, in the crop's model pixels:
    (visible part, True) while it stays recognisable — at least KEEP_SHARE of it visible, or a
    piece at least KEEP_EXTENT_PX long — else (the sliver, False): not to be taught as an
    object (nor as background). (None, True) when the crop does not see it."""
    x0, y0 = origin
    visible = shape.intersection(rectangle(x0, y0, x0 + window, y0 + window))
    parts = [p for p in polygons_of(visible) if p.area > 0]
    if not parts:
        return None, True
    # the polygons only: a line where the shape touches the crop's edge has no extent to keep
    seen: Shape = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    local = affinity.affine_transform(seen, [scale, 0, 0, scale, -x0 * scale, -y0 * scale])
    if seen.area >= KEEP_SHARE * shape.area:
        return local, True
    bx0, by0, bx1, by1 = local.bounds
    return local, max(bx1 - bx0, by1 - by0) >= KEEP_EXTENT_PX


# ------------------------------------------------------------------- merging the pieces

@dataclass
class Piece:
    """A detection in frame pixels from one tile: a bool mask window at `origin`."""
    class_index: int
    score: float
    mask: np.ndarray
    origin: tuple[int, int]
    tile: int  # index into the grid it came from

    @property
    def rect(self) -> Rect:
        x, y = self.origin
        return x, y, x + self.mask.shape[1], y + self.mask.shape[0]


def _intersect(a: Rect, b: Rect) -> Rect | None:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _within(piece: Piece, rect: Rect) -> np.ndarray:
    """The piece's mask over `rect` (frame px), zeros where its window does not reach."""
    x0, y0, x1, y1 = rect
    out = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    common = _intersect(piece.rect, rect)
    if common is not None:
        cx0, cy0, cx1, cy1 = common
        px, py = piece.origin
        out[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] = \
            piece.mask[cy0 - py:cy1 - py, cx0 - px:cx1 - px]
    return out


def _iou_over(a: Piece, b: Piece, rect: Rect) -> float:
    ma, mb = _within(a, rect), _within(b, rect)
    union = np.count_nonzero(ma | mb)
    return np.count_nonzero(ma & mb) / union if union else 0.0


def merge_pieces(pieces: list[Piece], tiles: list[Rect],
                 merge_iou: float = MERGE_IOU, nms_iou: float = NMS_IOU) -> list[Piece]:
    """One detection per object from the detections of overlapping tiles.

    Two same-class pieces from different tiles are one object when, over the region both
    tiles saw, their masks agree (IoU >= merge_iou): a duplicate seen whole by both, or the
    parts of an object cut by tile borders (a scratch across three tiles is cut twice and
    joined twice). Joined pieces become the union of their masks with the best score. Then
    non-maximum suppression by mask IoU on the frame, per class. Best score first."""
    parent = list(range(len(pieces)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    rects = np.array([p.rect for p in pieces], dtype=np.int64).reshape(-1, 4)
    for i, a in enumerate(pieces):
        # candidates: same class, another tile, windows that meet
        near = np.nonzero((rects[i + 1:, 0] < rects[i, 2]) & (rects[i + 1:, 2] > rects[i, 0]) &
                          (rects[i + 1:, 1] < rects[i, 3]) & (rects[i + 1:, 3] > rects[i, 1]))[0]
        for j in (i + 1 + near).tolist():
            b = pieces[j]
            if b.class_index != a.class_index or b.tile == a.tile or root(i) == root(j):
                continue
            shared = _intersect(tiles[a.tile], tiles[b.tile])
            if shared is not None and _iou_over(a, b, shared) >= merge_iou:
                parent[root(j)] = root(i)
    groups: dict[int, list[Piece]] = {}
    for k, piece in enumerate(pieces):
        groups.setdefault(root(k), []).append(piece)
    merged = sorted((_union(group) for group in groups.values()), key=lambda p: -p.score)
    return suppress(merged, nms_iou)


def _union(group: list[Piece]) -> Piece:
    if len(group) == 1:
        return group[0]
    rects = np.array([p.rect for p in group])
    rect = (int(rects[:, 0].min()), int(rects[:, 1].min()),
            int(rects[:, 2].max()), int(rects[:, 3].max()))
    mask = np.zeros((rect[3] - rect[1], rect[2] - rect[0]), dtype=bool)
    for piece in group:
        mask |= _within(piece, rect)
    best = max(group, key=lambda p: p.score)
    return Piece(best.class_index, best.score, mask, (rect[0], rect[1]), best.tile)


def mask_iou(a: Piece, b: Piece) -> float:
    """IoU of two box-local masks on the frame."""
    common = _intersect(a.rect, b.rect)
    if common is None:
        return 0.0
    inter = np.count_nonzero(_within(a, common) & _within(b, common))
    union = np.count_nonzero(a.mask) + np.count_nonzero(b.mask) - inter
    return inter / union if union else 0.0


def suppress(pieces: list[Piece], iou: float = NMS_IOU) -> list[Piece]:
    """Greedy non-maximum suppression by mask IoU, per class; `pieces` best score first."""
    kept: list[Piece] = []
    for piece in pieces:
        if all(k.class_index != piece.class_index or mask_iou(k, piece) < iou for k in kept):
            kept.append(piece)
    return kept
