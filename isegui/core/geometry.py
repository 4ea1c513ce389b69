"""The two geometry conversions every other module calls: shape -> mask and mask -> shape.

Conventions (docs/ARCHITECTURE.md): coordinates are image pixels after EXIF orientation, x right,
y down; pixel (row r, column c) is the unit square [c, c+1] x [r, r+1].

- `rasterize` uses COCO's polygon rule (pycocotools' rleFrPoly: a pixel is in when its centre
  is, with vertices quantised to 1/5 px), so a mask we rasterise is the mask that
  `COCO.annToMask` gives for the same polygon: exports and training see the same pixels.
- `vectorize` traces pixel edges, so its polygons have integer vertices on pixel corners and
  `rasterize(vectorize(m)) == m` exactly. Simplifying is a separate, explicit step (`simplify`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

import cv2
import numpy as np
import numpy.typing as npt
import shapely
from pycocotools import mask as coco_mask
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from isegui.core.errors import ShapeError

Shape: TypeAlias = Polygon | MultiPolygon
MAX_VERTICES = 1_000_000  # per instance: a traced 20-MP mask of fine texture stays below
Mask: TypeAlias = npt.NDArray[np.bool_]

EMPTY = Polygon()
MIN_AREA = 1e-6  # px²: what clipping leaves below this is no object
# Shapes are in image pixels: a coordinate beyond this (or NaN) is no image's; 1e300 makes
# rasterizing crash (pycocotools' polygon code) and clipping overflow
MAX_COORDINATE = 1e7


# --------------------------------------------------------------------------- shape -> mask

def bounds_window(shape: Shape, height: int, width: int) -> tuple[int, int, int, int]:
    """The pixel window (x0, y0, x1, y1) of an image that holds every pixel of `shape`."""
    if shape.is_empty:
        return 0, 0, 0, 0
    minx, miny, maxx, maxy = shape.bounds
    x0 = min(max(0, math.floor(minx)), width)
    y0 = min(max(0, math.floor(miny)), height)
    x1 = max(min(width, math.ceil(maxx) + 1), x0)
    y1 = max(min(height, math.ceil(maxy) + 1), y0)
    return x0, y0, x1, y1


def rasterize(shape: Shape, height: int, width: int,
              origin: tuple[int, int] = (0, 0)) -> Mask:
    """Boolean mask of `shape` over the window of `height` x `width` pixels whose top-left
    pixel is `origin` = (x, y) in image coordinates. Holes are cut out; parts are joined."""
    ox, oy = int(origin[0]), int(origin[1])
    out = np.zeros((height, width), dtype=bool)
    if shape.is_empty or height <= 0 or width <= 0:
        return out
    # pycocotools truncates negative coordinates toward zero, so rasterise from a window that
    # starts at or before the shape (never before pixel 0) and crop: every window then agrees
    # with the full-image result.
    minx, miny, _, _ = shape.bounds
    gx = min(ox, max(0, math.floor(minx)))
    gy = min(oy, max(0, math.floor(miny)))
    gh, gw = oy - gy + height, ox - gx + width
    grown = np.zeros((gh, gw), dtype=bool)
    for polygon in _polygons(shape):
        # each part in its own window keeps many-part shapes cheap
        x0, y0, x1, y1 = bounds_window(polygon, gy + gh, gx + gw)
        x0, y0 = max(x0, gx), max(y0, gy)
        if x1 <= x0 or y1 <= y0:
            continue
        part = _rasterize_ring(polygon.exterior.coords, x0, y0, y1 - y0, x1 - x0)
        for ring in polygon.interiors:
            part &= ~_rasterize_ring(ring.coords, x0, y0, y1 - y0, x1 - x0)
        grown[y0 - gy:y1 - gy, x0 - gx:x1 - gx] |= part
    out[:] = grown[oy - gy:, ox - gx:]
    return out


# pycocotools rounds each vertex to a 1/5-pixel grid before it rasterises
_COCO_SUBPIXELS = 5


def _rasterize_ring(coords: npt.ArrayLike, gx: int, gy: int, height: int, width: int) -> Mask:
    xy = np.asarray(coords, dtype=np.float64)[:-1]
    if len(xy) < 3:
        return np.zeros((height, width), dtype=bool)
    xy = np.stack([_shift_onto_coco_grid(xy[:, 0], gx), _shift_onto_coco_grid(xy[:, 1], gy)], 1)
    # pycocotools reads a 2-point list as a box, hence the >= 3 points guard above
    rle = coco_mask.frPyObjects([xy.ravel().tolist()], height, width)
    decoded: npt.NDArray[np.uint8] = coco_mask.decode(rle)
    return decoded[:, :, 0].astype(bool)


def _shift_onto_coco_grid(values: np.ndarray, offset: int) -> np.ndarray:
    """`values - offset`, exactly as pycocotools would have rounded `values` on the full image:
    subtracting first (2.3 - 1 = 1.2999...) can move a vertex to the next 1/5-pixel step."""
    if offset == 0:
        return values
    # C's (int) cast truncates toward zero, as pycocotools does; values here are >= offset > 0
    steps = np.trunc(values * _COCO_SUBPIXELS + 0.5)
    return (steps - offset * _COCO_SUBPIXELS) / _COCO_SUBPIXELS


def _polygons(shape: BaseGeometry) -> list[Polygon]:
    """The non-empty polygons in any geometry, collections inside collections included."""
    if isinstance(shape, Polygon):  # the common cases, without shapely's array machinery
        return [] if shape.is_empty else [shape]
    if isinstance(shape, MultiPolygon):
        return [p for p in shape.geoms if not p.is_empty]
    out: list[Polygon] = []
    for part in shapely.get_parts(shape):
        if isinstance(part, Polygon):
            if not part.is_empty:
                out.append(part)
        elif shapely.get_num_geometries(part) > 0 and part.geom_type in (
                "MultiPolygon", "GeometryCollection"):
            out.extend(_polygons(part))
    return out


# --------------------------------------------------------------------------- mask -> shape

# Directed pixel edges, clockwise on screen around foreground: +x, +y, -x, -y.
_STEP = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]])


def vectorize(mask: np.ndarray, origin: tuple[int, int] = (0, 0)) -> Shape:
    """Polygon or MultiPolygon (with holes) whose edges are the pixel edges of `mask`.

    `origin` is the image position of mask[0, 0]. Pixels touching only at a corner are separate
    parts (4-connectivity). The result rasterises back to exactly `mask`.
    """
    m = np.pad(np.asarray(mask, dtype=bool), 1)
    if not m.any():
        return EMPTY
    starts, dirs = _boundary_edges(m)
    rings = _link_rings(starts, dirs, m.shape[1] + 1)
    labels = cv2.connectedComponents(m.astype(np.uint8), connectivity=4)[1]
    shells: dict[int, list[np.ndarray]] = {}
    holes: dict[int, list[np.ndarray]] = {}
    for ring in rings:
        ring_xy, first_dir = starts[ring], dirs[ring[0]]
        keep = dirs[ring] != np.roll(dirs[ring], 1)  # drop vertices between collinear edges
        coords = ring_xy[keep] + (origin[0] - 1, origin[1] - 1)
        col, row = _pixel_right_of(ring_xy[0], first_dir)
        component = int(labels[row, col])
        target = shells if _signed_area(coords) > 0 else holes
        target.setdefault(component, []).append(coords)
    polygons = []
    for component, outer in shells.items():
        polygons.append(Polygon(outer[0], holes.get(component, [])))
        polygons.extend(Polygon(shell) for shell in outer[1:])  # not expected; make_valid sorts it
    # A ring that touches itself at a corner is invalid in shapely; make_valid restructures it
    # without changing its area. Parts of different components meet only at corners, which a
    # MultiPolygon allows, so checking each part is enough.
    valid = shapely.is_valid(polygons)
    if not valid.all():
        fixed = [p if ok else _polygonal(make_valid(p)) for p, ok in zip(polygons, valid)]
        polygons = [part for p in fixed for part in _polygons(p)]
    return polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)


def traced_vertices(mask: np.ndarray) -> int:
    """How many vertices `vectorize(mask)` gives, counted from 2x2 windows in a few passes
    over the pixels, before any tracing: a corner where one or three of the four pixels are
    set, two where two meet only at a corner. A 1000x1000 checkerboard (900 bytes of PNG)
    traces to 2,000,000, which took 30 s and GBs to build."""
    m = np.pad(np.asarray(mask, dtype=bool), 1).astype(np.uint8)
    a, b, c, d = m[:-1, :-1], m[:-1, 1:], m[1:, :-1], m[1:, 1:]
    count = a + b + c + d
    diagonal = (count == 2) & (a == d)
    return int(np.count_nonzero(count & 1) + 2 * np.count_nonzero(diagonal))


def _boundary_edges(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start vertex (x, y) and direction of every boundary edge of a zero-padded mask."""
    top = m[1:, :] & ~m[:-1, :]      # pixel (r+1, c) has background above
    bottom = m[:-1, :] & ~m[1:, :]   # pixel (r, c) has background below
    left = m[:, 1:] & ~m[:, :-1]     # pixel (r, c+1) has background to its left
    right = m[:, :-1] & ~m[:, 1:]    # pixel (r, c) has background to its right
    parts = []
    r, c = np.nonzero(top)
    parts.append((c, r + 1, 0))
    r, c = np.nonzero(right)
    parts.append((c + 1, r, 1))
    r, c = np.nonzero(bottom)
    parts.append((c + 1, r + 1, 2))
    r, c = np.nonzero(left)
    parts.append((c + 1, r + 1, 3))
    xs = np.concatenate([p[0] for p in parts])
    ys = np.concatenate([p[1] for p in parts])
    ds = np.concatenate([np.full(len(p[0]), p[2]) for p in parts])
    return np.stack([xs, ys], axis=1), ds


def _link_rings(starts: np.ndarray, dirs: np.ndarray, stride: int) -> list[np.ndarray]:
    """Group edges into closed rings. At a vertex with two ways out (pixels meeting only at a
    corner) turn clockwise, which keeps diagonal neighbours apart."""
    start_id = starts[:, 1] * stride + starts[:, 0]
    ends = starts + _STEP[dirs]
    end_id = ends[:, 1] * stride + ends[:, 0]
    order = np.argsort(start_id, kind="stable")
    sorted_ids = start_id[order]
    first = np.searchsorted(sorted_ids, end_id, side="left")
    count = np.searchsorted(sorted_ids, end_id, side="right") - first
    nxt = order[first]
    two = np.nonzero(count == 2)[0]
    if len(two):
        a, b = order[first[two]], order[first[two] + 1]
        wanted = (dirs[two] + 1) % 4
        nxt[two] = np.where(dirs[a] == wanted, a, b)
    nxt_list = nxt.tolist()
    seen = bytearray(len(nxt_list))
    rings = []
    for begin in range(len(nxt_list)):
        if seen[begin]:
            continue
        ring = []
        e = begin
        while not seen[e]:
            seen[e] = 1
            ring.append(e)
            e = nxt_list[e]
        rings.append(np.array(ring))
    return rings


def _pixel_right_of(start: np.ndarray, direction: int) -> tuple[int, int]:
    """(column, row) of the foreground pixel that the edge starting at `start` bounds."""
    x, y = int(start[0]), int(start[1])
    return [(x, y), (x - 1, y), (x - 1, y - 1), (x, y - 1)][direction]


def _signed_area(coords: np.ndarray) -> float:
    x, y = coords[:, 0], coords[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


# --------------------------------------------------------------------------- repair, simplify

@dataclass(frozen=True)
class Repaired:
    shape: Shape
    note: str | None  # what the repair changed, or None when the input was already valid


def make_valid(geometry: BaseGeometry) -> BaseGeometry:
    """GEOS's make_valid by structure: the area inside the outer rings less the holes. Its
    default (by linework) keeps every face of a tangled outline and takes time with the square
    of the crossings: 17 s for 300 random points (a hostile label file), 0.3 s this way."""
    return shapely.make_valid(geometry, method="structure", keep_collapsed=False)


# make_valid takes time and memory faster than the places where an outline's edges meet grow:
# a 2,000-point random ring (27 KB of COCO) has 460,000 and took 21 s and 1 GB. 10,000 random
# crossings repair in 0.2 s, the worst shape found at 10,000 (5,000 teeth touching one edge)
# in 2-4 s. An outline drawn by hand comes nowhere near; a YOLO ring's cuts to its holes meet
# 7 times a hole, so about 1,400 holes fit.
MAX_CROSSINGS = 10_000
_PAIRS_AT_ONCE = 1 << 20  # edge pairs looked at in one batch: a few tens of MB


def repair(geometry: BaseGeometry, max_crossings: int | None = None) -> Repaired:
    """A valid Polygon/MultiPolygon from any polygonal geometry; says what it fixed.

    Raises ShapeError when nothing with area is left (empty, a line, collinear points), and
    with `max_crossings`, before any repair, when its edges meet more often than that."""
    if geometry is None or geometry.is_empty:
        raise ShapeError("the shape is empty")
    note = None
    shape = geometry
    if not geometry.is_valid:
        if max_crossings is not None:
            refuse_if_tangled(geometry, max_crossings)
        problem = invalidity(geometry)
        shape = _polygonal(make_valid(geometry))
        parts = len(_polygons(shape))
        note = f"{problem}; " + ("it was repaired" if parts == 1 else
                                 f"it was split into {parts} parts")
    else:
        shape = _polygonal(geometry)
    if shape.is_empty or shape.area <= 0:
        raise ShapeError("the shape has no area (fewer than 3 distinct points, or all on a line)")
    return Repaired(shape, note)


def refuse_if_tangled(geometry: BaseGeometry, max_crossings: int = MAX_CROSSINGS) -> None:
    """ShapeError when the edges meet more often than `max_crossings` (see `crossings`)."""
    if crossings(geometry, stop_after=max_crossings) > max_crossings:
        raise ShapeError(f"its edges cross or touch each other over {max_crossings:,} "
                         "times, too tangled to repair; draw it again")


def crossings(geometry: BaseGeometry, stop_after: int) -> int:
    """How many pairs of a polygonal geometry's edges (other than two that follow each other
    on a ring) cross, run along or touch each other, counted up to just past `stop_after`:
    each such meeting is a node for make_valid, and its cost grows faster than their number
    (3,000 petals that touch at one point: 40 s). Pairs whose boxes meet come from a tree in
    batches, so the count costs about n log n and stops as soon as it is past the bound."""
    edges, ring, index, length = _edges(geometry)
    if len(edges) < 2:
        return 0
    lines = np.asarray(shapely.linestrings(edges))
    tree = shapely.STRtree(lines)
    batch = max(8, _PAIRS_AT_ONCE // len(edges))
    found = 0
    for start in range(0, len(edges), batch):
        mine, theirs = tree.query(lines[start:start + batch])
        mine += start
        step = (index[theirs] - index[mine]) % length[mine]
        apart = (theirs > mine) & ((ring[mine] != ring[theirs]) |
                                   ((step != 1) & (step != length[mine] - 1)))
        found += int(_meet(edges[mine[apart]], edges[theirs[apart]]).sum())
        if found > stop_after:
            break
    return found


def _edges(geometry: BaseGeometry) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every edge of the rings of a polygonal geometry, (n, 2, 2) (repeated points dropped),
    with per edge: its ring, its place on the ring and the ring's edge count."""
    edges, ring, index, length = [], [], [], []
    for k, one in enumerate(shapely.get_rings(shapely.get_parts(geometry))):
        xy = shapely.get_coordinates(one)
        xy = xy[np.r_[True, (np.diff(xy, axis=0) != 0).any(axis=1)]]
        n = len(xy) - 1
        if n < 1:
            continue
        edges.append(np.stack([xy[:-1], xy[1:]], axis=1))
        ring.append(np.full(n, k))
        index.append(np.arange(n))
        length.append(np.full(n, n))
    if not edges:
        nothing = np.empty(0, int)
        return np.empty((0, 2, 2)), nothing, nothing, nothing
    return (np.concatenate(edges), np.concatenate(ring), np.concatenate(index),
            np.concatenate(length))


def _meet(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pair of edges (each (n, 2, 2)) whose boxes meet: whether the edges meet too (cross,
    touch or run along each other: on one line, their meeting boxes are a shared stretch)."""
    with np.errstate(all="ignore"):  # wild coordinates: the repair says what is wrong
        da, db = a[:, 1] - a[:, 0], b[:, 1] - b[:, 0]
        b_sides = np.sign(_cross(da, b[:, 0] - a[:, 0])) * np.sign(_cross(da, b[:, 1] - a[:, 0]))
        a_sides = np.sign(_cross(db, a[:, 0] - b[:, 0])) * np.sign(_cross(db, a[:, 1] - b[:, 0]))
    meet: np.ndarray = (b_sides <= 0) & (a_sides <= 0)
    return meet


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    product: np.ndarray = u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]
    return product


_PROBLEMS = {  # GEOS's reasons (shapely.is_valid_reason), in words
    "Self-intersection": "the outline crosses itself",
    "Ring Self-intersection": "the outline touches itself",
    "Too few points in geometry component": "an outline has fewer than 3 distinct points",
    "Hole lies outside shell": "a hole lies outside the outline",
    "Holes are nested": "a hole lies inside another hole",
    "Interior is disconnected": "its holes cut it into pieces",
    "Nested shells": "one part lies inside another",
    "Duplicate Rings": "an outline is there twice",
    "Invalid Coordinate": "a coordinate is not a number",
}


def invalidity(geometry: BaseGeometry) -> str:
    """Why a polygon is invalid, in words and where: "the outline crosses itself near
    (114, 94)" rather than GEOS's "Self-intersection[113.96 94.11]"."""
    reason = shapely.is_valid_reason(geometry)
    kind, _, where = reason.partition("[")
    kind = kind.strip()
    words = _PROBLEMS.get(kind, kind[:1].lower() + kind[1:])
    if kind == "Self-intersection" and isinstance(geometry, MultiPolygon):
        words = "two of its parts overlap"
    elif kind == "Self-intersection" and any(p.interiors for p in _polygons(geometry)):
        words = "the outline and a hole, or two holes, cross"
    try:
        x, y = (float(v) for v in where.rstrip("]").split()[:2])
    except ValueError:
        return words
    return f"{words} near ({x:.0f}, {y:.0f})" if math.isfinite(x) and math.isfinite(y) else words


def _polygonal(geometry: BaseGeometry) -> Shape:
    """The polygonal part of a geometry as one Polygon or MultiPolygon (lines, points dropped)."""
    polygons = _polygons(geometry)
    if not polygons:
        return EMPTY
    if len(polygons) == 1:
        return polygons[0]
    merged = shapely.union_all(polygons)
    return merged if isinstance(merged, (Polygon, MultiPolygon)) else _polygonal(merged)


def polygon_from_points(points: npt.ArrayLike,
                        holes: Iterable[npt.ArrayLike] = ()) -> Repaired:
    """A repaired shape from a ring of (x, y) points, optionally with hole rings."""
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(pts) < 3:
        raise ShapeError(f"a polygon needs at least 3 points, got {len(pts)}")
    if not np.isfinite(pts).all():
        raise ShapeError("a polygon has a coordinate that is not a finite number")
    hole_rings = [np.asarray(h, dtype=float).reshape(-1, 2) for h in holes]
    return repair(Polygon(pts, [h for h in hole_rings if len(h) >= 3]))


def simplify(shape: Shape, tolerance: float) -> Shape:
    """Fewer vertices, no vertex moved more than `tolerance` px, topology kept.

    An explicit choice: a simplified shape no longer rasterises to exactly the traced mask."""
    if tolerance <= 0 or shape.is_empty:
        return shape
    return _polygonal(shapely.simplify(shape, tolerance, preserve_topology=True))


def clip_to_image(shape: Shape, width: int, height: int) -> Shape:
    """The part of `shape` inside the image's `width` x `height` rectangle (EMPTY when none
    is); `shape` itself when it lies inside. Raises ShapeError for non-finite coordinates."""
    if shape.is_empty:
        return shape
    minx, miny, maxx, maxy = shape.bounds
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise ShapeError("a coordinate is not a finite number")
    if minx >= 0 and miny >= 0 and maxx <= width and maxy <= height:
        return shape
    try:
        inside = _polygonal(shapely.clip_by_rect(shape, 0, 0, width, height))
    except shapely.errors.GEOSException:  # its fast path fails on some degenerate rings
        try:
            inside = _polygonal(shape.intersection(shapely.box(0, 0, width, height)))
        except shapely.errors.GEOSException as exc:
            raise ShapeError(f"not a usable polygon ({exc})") from None
    if inside.is_empty or inside.area < MIN_AREA:
        return EMPTY
    return inside if inside.is_valid else repair(inside).shape  # clipping may leave it invalid


def translate(shape: Shape, dx: float, dy: float) -> Shape:
    return shapely.transform(shape, lambda xy: xy + (dx, dy))


def has_holes(shape: Shape) -> bool:
    return any(len(p.interiors) for p in _polygons(shape))


def polygons_of(shape: BaseGeometry) -> list[Polygon]:
    """The non-empty polygons of a Polygon, MultiPolygon or collection."""
    return _polygons(shape)
