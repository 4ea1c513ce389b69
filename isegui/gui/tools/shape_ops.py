"""Geometry the tools share: editable rings, snapping to neighbours, clipping to others,
finding the instance under the cursor. Plain shapely and numpy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon

from isegui.core.errors import ShapeError
from isegui.core.geometry import Shape, polygons_of, repair
from isegui.core.handles import handle_indices


@dataclass
class VertexRef:
    part: int
    ring: int  # 0: the outer ring, 1..: holes
    index: int


class Rings:
    """A shape as editable rings of vertices: parts, each an outer ring and holes.

    Only some vertices have handles (core.handles: on a pixel trace a few, elsewhere all).
    Moving or deleting a handle replaces the trace between it and its neighbouring handles by
    straight edges, the edges the handles show; every other vertex stays exactly where it
    was. (Editing the simplified ring instead would move the whole outline up to a pixel at
    the first touch; a brush stroke's exact mask is kept wherever it is not edited.)"""

    def __init__(self, shape: Shape):
        self.parts = [[np.asarray(p.exterior.coords)[:-1].copy()] +
                      [np.asarray(h.coords)[:-1].copy() for h in p.interiors]
                      for p in polygons_of(shape)]
        self._handles: list[list[np.ndarray]] | None = None

    @property
    def handles(self) -> list[list[np.ndarray]]:
        """Per part and ring, the indices of the vertices that have handles."""
        if self._handles is None:
            self._handles = [[handle_indices(r) for r in rings] for rings in self.parts]
        return self._handles

    def find_vertex(self, x: float, y: float, tolerance: float) -> VertexRef | None:
        """The handle nearest (x, y) within the tolerance."""
        best, best_d = None, tolerance
        for pi, rings in enumerate(self.parts):
            for ri, ring in enumerate(rings):
                indices = self.handles[pi][ri]
                d = np.hypot(ring[indices, 0] - x, ring[indices, 1] - y)
                k = int(np.argmin(d))
                if d[k] <= best_d:
                    best, best_d = VertexRef(pi, ri, int(indices[k])), d[k]
        return best

    def find_edge(self, x: float, y: float, tolerance: float):
        """(VertexRef of the edge's first vertex, the nearest point on it) or None."""
        best, best_d = None, tolerance
        for pi, rings in enumerate(self.parts):
            for ri, ring in enumerate(rings):
                a, b = ring, np.roll(ring, -1, axis=0)
                ab = b - a
                t = np.clip(((x - a[:, 0]) * ab[:, 0] + (y - a[:, 1]) * ab[:, 1]) /
                            np.maximum((ab ** 2).sum(axis=1), 1e-12), 0, 1)
                near = a + ab * t[:, None]
                d = np.hypot(near[:, 0] - x, near[:, 1] - y)
                k = int(np.argmin(d))
                if d[k] <= best_d:
                    best, best_d = (VertexRef(pi, ri, k), (float(near[k, 0]),
                                                           float(near[k, 1]))), d[k]
        return best

    def moved(self, ref: VertexRef, x: float, y: float) -> Rings:
        out = self.copy()
        ring = out.parts[ref.part][ref.ring].copy()
        ring[ref.index] = (x, y)
        out.parts[ref.part][ref.ring] = np.delete(ring, self._between_handles(ref), axis=0)
        return out

    def inserted(self, ref: VertexRef, x: float, y: float) -> Rings:
        out = self.copy()
        ring = out.parts[ref.part][ref.ring]
        out.parts[ref.part][ref.ring] = np.insert(ring, ref.index + 1, (x, y), axis=0)
        return out

    def deleted(self, ref: VertexRef) -> Rings:
        """Without the vertex; a ring left with fewer than 3 vertices goes (a hole closes)."""
        out = self.copy()
        ring = np.delete(out.parts[ref.part][ref.ring],
                         [ref.index, *self._between_handles(ref)], axis=0)
        if len(ring) >= 3:
            out.parts[ref.part][ref.ring] = ring
        elif ref.ring > 0:
            del out.parts[ref.part][ref.ring]
        else:
            del out.parts[ref.part]
        return out

    def _between_handles(self, ref: VertexRef) -> list[int]:
        """The vertices between the handle `ref` and the handles before and after it."""
        n = len(self.parts[ref.part][ref.ring])
        indices = self.handles[ref.part][ref.ring]
        if len(indices) == n:
            return []
        k = int(np.searchsorted(indices, ref.index))
        on_handle = k < len(indices) and indices[k] == ref.index
        before, after = int(indices[k - 1]), int(indices[(k + on_handle) % len(indices)])
        span = [(before + j) % n for j in range(1, (ref.index - before) % n)]
        return span + [(ref.index + j) % n for j in range(1, (after - ref.index) % n)]

    def copy(self) -> Rings:
        out = Rings.__new__(Rings)
        out.parts = [[r.copy() for r in rings] for rings in self.parts]
        out._handles = None
        return out

    def to_shape(self):
        """The edited shape, repaired; raises ShapeError when nothing with area is left."""
        polygons = [Polygon(rings[0], rings[1:]) for rings in self.parts if len(rings[0]) >= 3]
        if not polygons:
            raise ShapeError("no polygon is left")
        geometry = polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)
        return repair(geometry)


def snap_point(x: float, y: float, shapes: list[Shape], tolerance: float
               ) -> tuple[float, float]:
    """The nearest vertex of `shapes` within the tolerance, else the nearest point on their
    edges within it, else (x, y) itself."""
    if not shapes:
        return x, y
    here = Point(x, y)
    near = [s for s in shapes if s.distance(here) <= tolerance]
    best_vertex, best_d = None, tolerance
    for shape in near:
        coords = shapely.get_coordinates(shape)
        d = np.hypot(coords[:, 0] - x, coords[:, 1] - y)
        k = int(np.argmin(d))
        if d[k] <= best_d:
            best_vertex, best_d = (float(coords[k, 0]), float(coords[k, 1])), d[k]
    if best_vertex is not None:
        return best_vertex
    best_edge, best_d = None, tolerance
    for shape in near:
        boundary = shape.boundary
        point = boundary.interpolate(boundary.project(here))
        edge_d = point.distance(here)
        if edge_d <= best_d:
            best_edge, best_d = (point.x, point.y), edge_d
    return best_edge if best_edge is not None else (x, y)


def clipped(shape: Shape, others: list[Shape]) -> Shape | None:
    """`shape` without the area `others` own; None when nothing is left."""
    if not others:
        return shape
    rest = shape.difference(shapely.union_all(others))
    try:
        return repair(rest).shape
    except ShapeError:
        return None


def instance_at(document, x: float, y: float, tolerance: float = 0.0) -> int | None:
    """The topmost visible, unlocked instance under (x, y), within `tolerance` of its edge."""
    here = Point(x, y)
    for inst in reversed(document.instances()):
        if inst.id in document.hidden or inst.id in document.locked:
            continue
        minx, miny, maxx, maxy = inst.shape.bounds
        if not (minx - tolerance <= x <= maxx + tolerance and
                miny - tolerance <= y <= maxy + tolerance):
            continue
        if inst.shape.covers(here) or (tolerance and inst.shape.distance(here) <= tolerance):
            return inst.id
    return None
