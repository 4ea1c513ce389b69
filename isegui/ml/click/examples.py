"""Training examples for the click model, made from the project's labeled instances the way the
click tool will show them: a first click somewhere inside the object in the window a first
click gets, or the object in the window a candidate mask gets (with, some of the time, a
wrong candidate and the click that corrects it). Further clicks are simulated on the model's
own errors during training (train.py), as RITM does."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from isegui.core.click_view import (CLICK_RADIUS, EXPAND, VIEW_SIDE, view_around, view_for,
                                    view_mask, view_pixels)
from isegui.core.errors import ImageReadError
from isegui.core.geometry import bounds_window, rasterize
from isegui.core.labeling_aids import next_click
from isegui.core.mask_window import MaskWindow
from isegui.ml.infer.detection import prepare_image
from isegui.ml.train.data import Sample, sample_pixels

IMAGE_BUDGET = 2 << 30  # bytes of decoded images kept at once
FIRST_CLICK_SHARE = 0.4  # of examples: a first click with no candidate yet
WRONG_CANDIDATE_SHARE = 0.25  # of the others: a candidate that is off, and its correction;
GOOD_CANDIDATE_SHARE = 0.15  # a nearly right one (a detector's) and a click inside it


@dataclass
class Example:
    """One view: pixels (S, S, 3) uint8, the object (S, S) bool, clicks (2, S, S) float32
    disks, the candidate (S, S) float32."""
    pixels: np.ndarray
    truth: np.ndarray
    clicks: np.ndarray
    previous: np.ndarray


class InstanceBank:
    """The labeled instances of some samples: images decoded when first needed (kept within
    IMAGE_BUDGET), each instance's mask rasterised once."""

    def __init__(self, samples: list[Sample]):
        self.samples = samples
        self.instances = [(s, k) for s, sample in enumerate(samples)
                          for k in range(len(sample.shapes))]
        self._images: OrderedDict[int, np.ndarray] = OrderedDict()
        self._truth: dict[tuple[int, int], MaskWindow | None] = {}
        self.unreadable: dict[str, str] = {}  # file -> why (its instances are passed over)

    def image(self, s: int) -> np.ndarray | None:
        if s in self._images:
            self._images.move_to_end(s)
            return self._images[s]
        sample = self.samples[s]
        if str(sample.path) in self.unreadable:
            return None
        try:
            pixels = prepare_image(sample_pixels(sample))
        except ImageReadError as exc:
            self.unreadable[str(sample.path)] = exc.problem
            return None
        self._images[s] = pixels
        while sum(p.nbytes for p in self._images.values()) > IMAGE_BUDGET and \
                len(self._images) > 1:
            self._images.popitem(last=False)
        return pixels

    def truth(self, s: int, k: int) -> MaskWindow | None:
        if (s, k) not in self._truth:
            sample = self.samples[s]
            shape = sample.shapes[k]
            x0, y0, x1, y1 = bounds_window(shape, sample.height, sample.width)
            self._truth[(s, k)] = MaskWindow.trimmed(
                rasterize(shape, y1 - y0, x1 - x0, origin=(x0, y0)), (x0, y0))
        return self._truth[(s, k)]


def typical_side(bank: InstanceBank) -> float:
    """Image px: a first click's window, the median labeled object's longer side with context."""
    sides = [max(b[2] - b[0], b[3] - b[1]) for b in
             (bank.samples[s].shapes[k].bounds for s, k in bank.instances)]
    return float(np.median(sides)) * EXPAND if sides else 64.0


def interior_point(mask: np.ndarray, rng: np.random.Generator) -> tuple[float, float] | None:
    """A point inside `mask` as an annotator would click it: half the time the point farthest
    from its edge (the simulated annotator's), otherwise anywhere not too near the edge."""
    if not mask.any():
        return None
    distance = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    if rng.random() < 0.5:
        y, x = np.unravel_index(int(distance.argmax()), distance.shape)
    else:
        ys, xs = np.nonzero(distance >= distance.max() * rng.uniform(0.2, 0.9))
        k = int(rng.integers(len(xs)))
        y, x = ys[k], xs[k]
    return float(x) + 0.5, float(y) + 0.5


def draw_click(maps: np.ndarray, point: tuple[float, float], positive: bool) -> None:
    cv2.circle(maps[0 if positive else 1], (int(point[0]), int(point[1])), CLICK_RADIUS,
               1.0, -1)


def make_example(bank: InstanceBank, index: int, first_side: float,
                 rng: np.random.Generator) -> Example | None:
    """The example of instance `index` (None when its image cannot be read or it has no
    pixels), augmented by flips and quarter turns."""
    s, k = bank.instances[index]
    image, truth = bank.image(s), bank.truth(s, k)
    if image is None or truth is None:
        return None
    first = rng.random() < FIRST_CLICK_SHARE
    if first:
        ys, xs = np.nonzero(truth.mask)
        pick = int(rng.integers(len(xs)))
        point = (truth.origin[0] + xs[pick] + 0.5, truth.origin[1] + ys[pick] + 0.5)
        inner = interior_point(truth.mask, rng)
        if inner is not None and rng.random() < 0.7:
            point = (truth.origin[0] + inner[0], truth.origin[1] + inner[1])
        view = view_for([(point, True)], None, first_side * math.exp(rng.uniform(-0.5, 0.5)))
    else:
        x0, y0, x1, y1 = truth.tight_box()
        w, h = x1 - x0, y1 - y0
        jx, jy = rng.uniform(-0.1, 0.1, 2) * max(w, h)
        view = view_around((x0 + jx, y0 + jy, x1 + jx, y1 + jy),
                           expand=EXPAND * math.exp(rng.uniform(-0.25, 0.3)))
    pixels = view_pixels(image, view)
    share = view_mask(truth, view)
    target = share >= 0.5 if (share >= 0.5).any() else share > 0
    previous = np.zeros((VIEW_SIDE, VIEW_SIDE), np.float32)
    maps = np.zeros((2, VIEW_SIDE, VIEW_SIDE), np.float32)
    if first:
        draw_click(maps, view.to_view(point), True)
    else:
        kind = rng.random()
        if kind < WRONG_CANDIDATE_SHARE + GOOD_CANDIDATE_SHARE:
            good = kind >= WRONG_CANDIDATE_SHARE  # a detector's mask, clicked to be taken
            previous = wrong_candidate(target, rng, 0.03 if good else 0.3).astype(np.float32)
        click = next_click(previous > 0.5, target) if kind < WRONG_CANDIDATE_SHARE else None
        if click is None:
            inner = interior_point(target, rng)
            if inner is None:
                return None
            click = (inner, True)
        draw_click(maps, *click)
    return augmented(Example(pixels, target, maps, previous), rng)


def wrong_candidate(target: np.ndarray, rng: np.random.Generator,
                    most: float = 0.3) -> np.ndarray:
    """The object's mask made wrong the ways candidates are: too fat, too thin, shifted, by
    up to `most` of its size."""
    size = max(1, int(math.sqrt(target.sum()) * rng.uniform(0.1, 1.0) * most))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * size + 1, 2 * size + 1))
    mask = target.astype(np.uint8)
    kind = rng.integers(3)
    if kind == 0:
        return np.asarray(cv2.dilate(mask, kernel), bool)
    if kind == 1:
        return np.asarray(cv2.erode(mask, kernel), bool)
    dx, dy = (int(v) for v in rng.integers(-size, size + 1, 2))
    return np.roll(target, (dy, dx), axis=(0, 1))


def augmented(example: Example, rng: np.random.Generator) -> Example:
    """Flipped and turned by quarters, all maps alike."""
    turns, flip = int(rng.integers(4)), bool(rng.random() < 0.5)

    def move(a: np.ndarray, axes: tuple[int, int]) -> np.ndarray:
        a = np.rot90(a, turns, axes=axes)
        return np.ascontiguousarray(np.flip(a, axis=axes[1]) if flip else a)

    return Example(move(example.pixels, (0, 1)), move(example.truth, (0, 1)),
                   move(example.clicks, (1, 2)), move(example.previous, (0, 1)))
