"""Which vertices of an outline get a handle to edit.

A drawn outline has a handle on every vertex. A pixel trace (what `geometry.vectorize` makes of
a brush stroke or an imported mask: integer corners joined by axis-parallel steps) has hundreds
of vertices, one per pixel step; a handle on each would bury the outline. There the handles are
a Douglas-Peucker subset of the trace's own vertices, within TOLERANCE image pixels of it; the
stored shape keeps every vertex. The edit tool then treats the trace between two neighbouring
handles as one edge (see tools/shape_ops.Rings)."""

from __future__ import annotations

import numpy as np

TOLERANCE = 1.0  # px: the handles' outline stays this close to the pixel trace (a stair
# step is 1 px: less keeps a handle on every other corner)
STEP_PX = 2  # a trace vertex has an axis-parallel edge of at most this length on one side


def handle_indices(ring: np.ndarray, tolerance: float = TOLERANCE) -> np.ndarray:
    """Indices, ascending, of the vertices of a closed ring (its first point not repeated at
    the end) that get handles."""
    ring = np.asarray(ring, float)
    n = len(ring)
    if n <= 8:
        return np.arange(n)
    e_out = np.roll(ring, -1, axis=0) - ring
    e_in = ring - np.roll(ring, 1, axis=0)
    axis_out = (e_out == 0).any(axis=1)
    axis_in = (e_in == 0).any(axis=1)
    short = np.minimum(np.abs(e_in).sum(axis=1), np.abs(e_out).sum(axis=1)) <= STEP_PX
    turns = e_in[:, 0] * e_out[:, 1] - e_in[:, 1] * e_out[:, 0] != 0
    integer = (ring == np.round(ring)).all(axis=1)
    # anything else was placed by hand (or moved, or inserted on a straight edge): it stays
    anchors = np.flatnonzero(~(integer & axis_in & axis_out & short & turns))
    if len(anchors) == n:
        return np.arange(n)
    if len(anchors) == 0:  # all trace: start from a vertex and the one farthest from it
        anchors = np.array([0, int(np.argmax(np.hypot(*(ring - ring[0]).T)))])
    while True:
        keep = set(anchors.tolist())
        for a, b in zip(anchors, np.roll(anchors, -1)):
            span = np.arange(a, b + (n if b <= a else 0) + 1) % n
            keep.update(span[_douglas_peucker(ring[span], tolerance)].tolist())
        if len(keep) >= 4 or tolerance < 0.1:  # a thin sliver still gets an area to edit
            return np.array(sorted(keep))
        tolerance /= 2


def _douglas_peucker(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Indices of an open polyline's vertices that keep it within `tolerance`; the ends stay."""
    keep = np.zeros(len(points), bool)
    keep[[0, -1]] = True
    stack = [(0, len(points) - 1)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        inner = points[i + 1:j]
        d = _distance_to_segment(inner, points[i], points[j])
        k = int(np.argmax(d))
        if d[k] > tolerance:
            keep[i + 1 + k] = True
            stack += [(i, i + 1 + k), (i + 1 + k, j)]
    return np.flatnonzero(keep)


def _distance_to_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    distance: np.ndarray = np.hypot(*(p - (a + t[:, None] * ab)).T)
    return distance
