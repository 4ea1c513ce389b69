"""Box-local masks: a bool array and the image position of its top-left pixel.

Every detection, tile piece and labeling-tool result keeps its mask this way, never as a
full-frame array per object (a 20-MP frame with a hundred defects would need 2 GB): a 3-px
scratch costs its own box. This module is the one place that pastes a window onto a region,
cuts it to its pixels, measures overlap between two of them and joins several.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

Rect: TypeAlias = tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels (x1, y1 excluded)
Box: TypeAlias = tuple[float, float, float, float]  # the same as floats


def intersect(a: Rect, b: Rect) -> Rect | None:
    """The common part of two rectangles; None when they do not overlap."""
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def enclosing(rects: Iterable[Rect]) -> Rect:
    """The smallest rectangle holding all of `rects`."""
    x0s, y0s, x1s, y1s = zip(*rects)
    return min(x0s), min(y0s), max(x1s), max(y1s)


@dataclass(frozen=True, eq=False)
class MaskWindow:
    """A bool mask whose pixel [0, 0] lies at image position `origin` (x, y)."""
    mask: np.ndarray
    origin: tuple[int, int]

    @classmethod
    def trimmed(cls, mask: np.ndarray, origin: tuple[int, int] = (0, 0)) -> MaskWindow | None:
        """The window of `mask` cut to its pixels' bounding box; None when it has none."""
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(mask.any(axis=0))
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        return cls(np.ascontiguousarray(mask[r0:r1, c0:c1]),
                   (int(origin[0]) + c0, int(origin[1]) + r0))

    @property
    def rect(self) -> Rect:
        x, y = self.origin
        return x, y, x + self.mask.shape[1], y + self.mask.shape[0]

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))

    def tight_box(self) -> Box:
        """The box around the mask's pixels (their outer edges), in image pixels; the window's
        own rectangle when the mask is empty."""
        rows = np.flatnonzero(self.mask.any(axis=1))
        if rows.size == 0:
            x0, y0, x1, y1 = self.rect
            return float(x0), float(y0), float(x1), float(y1)
        cols = np.flatnonzero(self.mask.any(axis=0))
        x, y = self.origin
        return (float(x + cols[0]), float(y + rows[0]), float(x + cols[-1] + 1),
                float(y + rows[-1] + 1))

    def on(self, rect: Rect) -> np.ndarray:
        """The mask over the pixels of `rect`: False where the window does not reach."""
        x0, y0, x1, y1 = rect
        out = np.zeros((y1 - y0, x1 - x0), bool)
        common = intersect(self.rect, rect)
        if common is not None:
            cx0, cy0, cx1, cy1 = common
            ox, oy = self.origin
            out[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] = \
                self.mask[cy0 - oy:cy1 - oy, cx0 - ox:cx1 - ox]
        return out

    def reaches(self, rect: Rect) -> bool:
        """Whether any pixel of the mask lies in `rect`."""
        common = intersect(self.rect, rect)
        if common is None:
            return False
        x0, y0, x1, y1 = common
        ox, oy = self.origin
        return bool(self.mask[y0 - oy:y1 - oy, x0 - ox:x1 - ox].any())

    def covers(self, point: tuple[float, float]) -> bool:
        """Whether the pixel holding image point `point` (x, y) is in the mask."""
        col = math.floor(point[0]) - self.origin[0]
        row = math.floor(point[1]) - self.origin[1]
        return (0 <= row < self.mask.shape[0] and 0 <= col < self.mask.shape[1]
                and bool(self.mask[row, col]))

    def iou(self, other: MaskWindow) -> float:
        """Intersection over union of the two masks in image pixels (0 when both are empty)."""
        common = intersect(self.rect, other.rect)
        inter = 0 if common is None else \
            int(np.count_nonzero(self.on(common) & other.on(common)))
        union = self.area + other.area - inter
        return inter / union if union else 0.0

    def mirrored(self, width: int) -> MaskWindow:
        """This window in the left-right mirror image of an image `width` px wide."""
        x, y = self.origin
        return MaskWindow(self.mask[:, ::-1], (width - x - self.mask.shape[1], y))

    @staticmethod
    def union(windows: Iterable[MaskWindow]) -> MaskWindow:
        """One window holding the pixels of all of `windows`."""
        windows = list(windows)
        if len(windows) == 1:
            return windows[0]
        rect = enclosing(w.rect for w in windows)
        mask = np.zeros((rect[3] - rect[1], rect[2] - rect[0]), bool)
        for window in windows:
            mask |= window.on(rect)
        return MaskWindow(mask, (rect[0], rect[1]))
