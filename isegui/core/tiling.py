"""Tiles: how a run sees frames of any size. No torch.

A run has a working scale (`WorkingScale`): the whole image resized so its long side is S (the
way for small images with large objects), or tiles of S x S model pixels at scale k of the
frame (k = 1: the camera's pixels), so that small objects in large frames keep their pixels.
Everything here is in native frame pixels: a tile at scale k covers S / k of them.

This module owns the grid of tiles over a frame, the windows of training crops, what an
instance cut by a crop becomes, and the merging of detections that tiles cut or saw twice back
into one instance per object. Masks stay box-local windows (core.mask_window).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from shapely import affinity
from shapely.geometry import MultiPolygon
from shapely.geometry import box as rectangle

from isegui.core.geometry import Shape, polygons_of
from isegui.core.mask_window import MaskWindow, Rect, intersect

OVERLAP_SHARE = 0.2  # neighbouring tiles share at least this much of their side (SAHI's 0.2)
MERGE_IOU = 0.3  # same-class pieces this alike where two tiles overlap are one object
NMS_IOU = 0.5  # then, of two same-class detections this alike on the frame, the lower goes
KEEP_SHARE = 0.5  # an instance cut by a crop stays an object with this share visible ...
KEEP_EXTENT_PX = 40  # ... or with a visible piece this long (model px): a long scratch's part


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


@dataclass(frozen=True)
class Tile:
    """A tile of prediction: `rect` is the frame region it sees (it may reach past the frame's
    edges, where the frame is mirrored), `core` the frame pixels it decides: those nearer its
    middle than any other tile's, so that no pixel is decided within half an overlap of the
    edge of the tile that decides it."""
    rect: Rect
    core: Rect


def frame_tiles(width: int, height: int, window: int,
                overlap: int | None = None) -> list[Tile]:
    """The tiles of prediction over a frame, row by row: the grid of `tile_grid` over the frame
    grown by half an overlap on every side, each tile with its core. A model sees less
    context near a tile's edge (and in the audit of a weak run fired in strips 12-40 px inside
    its right and bottom edges); with every pixel decided in a core, whatever a tile does in
    the outer half of its overlap is its neighbour's to decide, and the frame's own edges lie
    half an overlap inside the tiles that decide them."""
    overlap = round(OVERLAP_SHARE * window) if overlap is None else overlap
    margin = overlap // 2
    columns = _spans(width, window, overlap, margin)
    rows = _spans(height, window, overlap, margin)
    return [Tile((x0, y0, x1, y1), (cx0, cy0, cx1, cy1))
            for (y0, y1), (cy0, cy1) in rows for (x0, x1), (cx0, cx1) in columns]


def _spans(length: int, window: int, overlap: int, margin: int
           ) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Along one axis: each tile's (start, end), which may pass [0, length), and its core's,
    which splits [0, length) at the middle of each overlap."""
    starts = [s - margin for s in positions(length + 2 * margin, window, overlap)]
    spans = [(s, s + min(window, length + 2 * margin)) for s in starts]
    cuts = [0] + [(nxt[0] + prev[1]) // 2 for prev, nxt in zip(spans, spans[1:])] + [length]
    return [(span, (cuts[k], cuts[k + 1])) for k, span in enumerate(spans)]


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
    def window(self) -> MaskWindow:
        return MaskWindow(self.mask, self.origin)


def _iou_over(a: Piece, b: Piece, rect: Rect) -> float:
    """IoU of two pieces over the frame region `rect` only."""
    ma, mb = a.window.on(rect), b.window.on(rect)
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

    rects = np.array([p.window.rect for p in pieces], dtype=np.int64).reshape(-1, 4)
    for i, a in enumerate(pieces):
        # candidates: same class, another tile, windows that meet
        near = np.nonzero((rects[i + 1:, 0] < rects[i, 2]) & (rects[i + 1:, 2] > rects[i, 0]) &
                          (rects[i + 1:, 1] < rects[i, 3]) & (rects[i + 1:, 3] > rects[i, 1]))[0]
        for j in (i + 1 + near).tolist():
            b = pieces[j]
            if b.class_index != a.class_index or b.tile == a.tile or root(i) == root(j):
                continue
            shared = intersect(tiles[a.tile], tiles[b.tile])
            if shared is not None and _iou_over(a, b, shared) >= merge_iou:
                parent[root(j)] = root(i)
    groups: dict[int, list[Piece]] = {}
    for k, piece in enumerate(pieces):
        groups.setdefault(root(k), []).append(piece)
    merged = sorted((_union(group) for group in groups.values()), key=lambda p: -p.score)
    return suppress(merged, nms_iou)


def _union(group: list[Piece]) -> Piece:
    best = max(group, key=lambda p: p.score)
    joined = MaskWindow.union(p.window for p in group)
    return Piece(best.class_index, best.score, joined.mask, joined.origin, best.tile)


def suppress(pieces: list[Piece], iou: float = NMS_IOU) -> list[Piece]:
    """Greedy non-maximum suppression by mask IoU, per class; `pieces` best score first."""
    kept: list[Piece] = []
    for piece in pieces:
        if all(k.class_index != piece.class_index or k.window.iou(piece.window) < iou
               for k in kept):
            kept.append(piece)
    return kept
