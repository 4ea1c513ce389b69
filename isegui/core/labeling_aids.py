"""Labeling helpers without a model, on OpenCV: GrabCut in a box (with clicked seeds and an
optional first guess), the magic wand (flood fill within a colour tolerance) and edge-following
outlines (Intelligent Scissors). Each works on a window around what the user pointed at, so a
20-MP frame costs no more than a small image. Results are mask windows (core.mask_window), as
predictions are."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

import cv2
import numpy as np

from isegui.core.mask_window import Box, MaskWindow, Rect, enclosing

Point = tuple[float, float]

SEED_RADIUS = 3  # px: a click marks a small disc as sure object / sure background
GRABCUT_ITERATIONS = 4
FIRST_GUESS_TOLERANCE = 24  # the click tool's colour region when no model helps
REFINE_ROOM, REFINE_ROOM_PX = 0.25, 8.0  # a refining click's box: this much beyond the rest
SCISSORS_WINDOW = 768  # px each way around an anchor: the edge map is built only there


def context_rect(box: Box, width: int, height: int, margin: float = 0.25,
                 least: int = 12) -> Rect:
    """`box` grown by `margin` of its size (at least `least` px) on each side, on the image."""
    x0, y0, x1, y1 = box
    mx = max(least, (x1 - x0) * margin)
    my = max(least, (y1 - y0) * margin)
    return (max(0, math.floor(x0 - mx)), max(0, math.floor(y0 - my)),
            min(width, math.ceil(x1 + mx)), min(height, math.ceil(y1 + my)))


def box_of(points: Sequence[Point]) -> Box:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def grabcut(image: np.ndarray, box: Box, positives: Sequence[Point] = (),
            negatives: Sequence[Point] = (), prior: MaskWindow | None = None,
            iterations: int = GRABCUT_ITERATIONS, room: float = 0.0) -> MaskWindow | None:
    """GrabCut (OpenCV) for the object in `box` of an RGB uint8 image: outside the box is
    background; inside, the object is told from the rest by colour models refined
    `iterations` times. `prior` (a first guess, e.g. the model's mask) starts it instead of
    "everything in the box"; `positives` / `negatives` are clicks on sure object / sure
    background; `room` px around the box are probably background (the object may grow
    into them). Only the connected parts of the result that hold a positive click (or, with
    none, the largest part) are kept."""
    height, width = image.shape[:2]
    box = (box[0] - room, box[1] - room, box[2] + room, box[3] + room)
    rect = context_rect(box, width, height)
    x0, y0, x1, y1 = rect
    crop = np.ascontiguousarray(image[y0:y1, x0:x1, :3])
    labels = np.full(crop.shape[:2], cv2.GC_BGD, np.uint8)
    bx0, by0 = max(0, math.floor(box[0]) - x0), max(0, math.floor(box[1]) - y0)
    bx1, by1 = min(x1, math.ceil(box[2])) - x0, min(y1, math.ceil(box[3])) - y0
    if bx1 <= bx0 or by1 <= by0:
        return None
    if prior is None:
        labels[by0:by1, bx0:bx1] = cv2.GC_PR_FGD
    else:
        inside = np.zeros_like(labels, bool)
        inside[by0:by1, bx0:bx1] = True
        guess = prior.on(rect)
        labels[inside] = cv2.GC_PR_BGD
        labels[guess] = cv2.GC_PR_FGD
    for points, value in ((negatives, cv2.GC_BGD), (positives, cv2.GC_FGD)):
        for px, py in points:
            cv2.circle(labels, (int(px) - x0, int(py) - y0), SEED_RADIUS, int(value), -1)
    if not np.isin(labels, (cv2.GC_BGD, cv2.GC_PR_BGD)).any():
        # the box covers the whole image: its border stands in for the background
        edge = np.zeros_like(labels, bool)
        edge[[0, -1], :] = edge[:, [0, -1]] = True
        labels[edge & (labels == cv2.GC_PR_FGD)] = cv2.GC_PR_BGD
    if not np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).any():
        return None
    background = np.zeros((1, 65), np.float64)
    foreground = np.zeros((1, 65), np.float64)
    # the rectangle is unused when starting from a mask
    cv2.grabCut(crop, labels, (0, 0, 0, 0), background, foreground, iterations,
                cv2.GC_INIT_WITH_MASK)
    mask = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    return MaskWindow.trimmed(_parts_holding(mask, [(px - x0, py - y0) for px, py in positives]),
                              (x0, y0))


def _parts_holding(mask: np.ndarray, points: Sequence[Point]) -> np.ndarray:
    """The connected parts of `mask` that hold one of `points`; the largest when none does."""
    count, parts = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    keep = {int(parts[int(y), int(x)]) for x, y in points
            if 0 <= int(y) < mask.shape[0] and 0 <= int(x) < mask.shape[1]} - {0}
    if not keep:
        sizes = np.bincount(parts.ravel(), minlength=count)
        sizes[0] = 0
        keep = {int(sizes.argmax())}
    return np.isin(parts, list(keep))


def magic_wand(image: np.ndarray, seed: Point, tolerance: int) -> MaskWindow | None:
    """The connected region around `seed` whose pixels differ from the colour there (the
    median of the 5 x 5 pixels around it) by at most `tolerance` (0-255) in every channel
    (OpenCV's flood fill, 8-connected)."""
    height, width = image.shape[:2]
    x, y = int(seed[0]), int(seed[1])
    if not (0 <= x < width and 0 <= y < height):
        return None
    pixels = np.array(image if image.ndim == 2 else image[:, :, :3])  # a copy: see below
    # the colour to match is the median around the click, not the clicked pixel alone (one
    # noisy pixel would make the region a scatter): flood fill compares with the seed's value
    patch = pixels[max(0, y - 2):y + 3, max(0, x - 2):x + 3]
    pixels[y, x] = np.median(patch.reshape(-1, 1 if pixels.ndim == 2 else 3), axis=0)
    filled = np.zeros((height + 2, width + 2), np.uint8)
    tol = float(max(0, min(255, tolerance)))
    diff = (tol,) * (1 if pixels.ndim == 2 else 3)
    flags = 8 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
    cv2.floodFill(pixels, filled, (x, y), 0, diff, diff, flags)
    return MaskWindow.trimmed(filled[1:-1, 1:-1].astype(bool))


class EdgeTracer:
    """Intelligent Scissors (OpenCV): from an anchor, the path along the strongest edges to
    any point near it. The edge map and the anchor's path tree are built once per anchor on a
    window around it, so each mouse move only follows the tree back."""

    def __init__(self, image: np.ndarray, window: int = SCISSORS_WINDOW):
        self.image = image if image.ndim == 2 else np.ascontiguousarray(image[:, :, :3])
        self.window = window
        self.rect: Rect | None = None
        self.anchor: tuple[int, int] | None = None
        self._tool: cv2.segmentation.IntelligentScissorsMB | None = None

    def start(self, anchor: Point) -> None:
        """Build the paths from `anchor`: the edge map of a window around it (made again only
        when the anchor nears that window's edge), then the anchor's path tree."""
        height, width = self.image.shape[:2]
        ax, ay = min(width - 1, max(0, int(anchor[0]))), min(height - 1, max(0, int(anchor[1])))
        if self._tool is None or self.rect is None or not self._well_inside(ax, ay):
            half = self.window // 2
            x0, y0 = max(0, ax - half), max(0, ay - half)
            x1, y1 = min(width, ax + half), min(height, ay + half)
            tool = cv2.segmentation.IntelligentScissorsMB()
            tool.setEdgeFeatureCannyParameters(32, 100)
            tool.setGradientMagnitudeMaxLimit(200)
            tool.applyImage(np.ascontiguousarray(self.image[y0:y1, x0:x1]))
            self._tool, self.rect = tool, (x0, y0, x1, y1)
        x0, y0 = self.rect[:2]
        self._tool.buildMap((ax - x0, ay - y0))
        self.anchor = (ax, ay)

    def _well_inside(self, x: int, y: int) -> bool:
        """The edge map of the current window serves an anchor this far from its edges
        (or from the image's own edges, which bound the window anyway)."""
        assert self.rect is not None
        x0, y0, x1, y1 = self.rect
        height, width = self.image.shape[:2]
        room = self.window // 4
        return ((x0 == 0 or x - x0 >= room) and (x1 == width or x1 - x >= room)
                and (y0 == 0 or y - y0 >= room) and (y1 == height or y1 - y >= room))

    def path_to(self, point: Point) -> list[tuple[int, int]]:
        """Pixels from the anchor to `point` along edges (a straight line beyond the window),
        in image coordinates, the anchor first."""
        if self._tool is None or self.rect is None or self.anchor is None:
            return []
        x0, y0, x1, y1 = self.rect
        px, py = int(point[0]), int(point[1])
        if not (x0 <= px < x1 and y0 <= py < y1):
            return [self.anchor, (px, py)]
        contour = self._tool.getContour((px - x0, py - y0), backward=False)
        return [(int(x) + x0, int(y) + y0) for x, y in contour.reshape(-1, 2)]


class Candidate(Protocol):
    """An object found by a model (ml.infer.detection.Detection is one)."""
    mask: np.ndarray
    origin: tuple[int, int]
    score: float
    class_index: int


SegmentBox = Callable[[Box, "int | None"], "Candidate | None"]  # the model on a user's box
# the click model: (image, clicks so far, current candidate) -> the object's mask
ClickModel = Callable[[np.ndarray, Sequence[tuple[Point, bool]], "MaskWindow | None"],
                      "MaskWindow | None"]


class ClickSession:
    """One object outlined by clicks. The first (positive) click takes the best of the
    model's detections covering it (also those below the review threshold) or, with no model
    or none there, GrabCut in a box around it; each further click, positive (object) or
    negative (background), refines the candidate: the model's mask head on the box grown to
    the positive clicks, then GrabCut from that guess with every click as a sure seed.

    With the project's click model (`click_model(image, clicks, candidate)`, ml.click), every
    click is answered by it instead, from all the clicks so far and the current candidate
    (the first from the detection under the click, when there is one); where its answer
    ignores a click (or it finds nothing), GrabCut refines from its answer as above."""

    def __init__(self, image: np.ndarray, segment_box: SegmentBox | None = None,
                 detections: Callable[[], Sequence[Candidate]] | None = None,
                 click_model: ClickModel | None = None):
        self.image = image
        self.segment_box = segment_box
        self.detections = detections
        self.click_model = click_model
        self.clicks: list[tuple[Point, bool]] = []
        self.current: MaskWindow | None = None
        self.class_index: int | None = None
        self.score: float | None = None
        self._start: tuple[MaskWindow | None, int | None, float | None] = (None, None, None)

    def start_from(self, window: MaskWindow | None, class_index: int | None = None,
                   score: float | None = None) -> None:
        """Begin from a mask found otherwise (box -> mask): clicks then refine it."""
        self.clicks, self.current = [], window
        self.class_index, self.score = class_index, score
        self._start = (window, class_index, score)

    def click(self, point: Point, positive: bool = True) -> MaskWindow | None:
        self.clicks.append((point, positive))
        if self.current is None:
            if positive:
                self._first(point)
        elif self.current.covers(point) != positive:
            self._refine()
        return self.current

    def undo(self) -> MaskWindow | None:
        """Drop the last click: the candidate is made again from the clicks before it."""
        clicks = self.clicks[:-1]
        self.current, self.class_index, self.score = self._start
        self.clicks = []
        for point, positive in clicks:
            self.click(point, positive)
        return self.current

    def _first(self, point: Point) -> None:
        found = [d for d in (self.detections() if self.detections else ())
                 if MaskWindow(d.mask, d.origin).covers(point)]
        if found:
            best = max(found, key=lambda d: d.score)
            self.current = MaskWindow(best.mask, best.origin)
            self.class_index, self.score = best.class_index, best.score
        if self.click_model is not None:
            answer = self.click_model(self.image, self.clicks, self.current)
            if answer is not None:
                self.current = answer
                return
        if found:
            return
        # no model (or it saw nothing there): the region of the clicked colour is the first
        # guess, GrabCut in a box around it the answer
        height, width = self.image.shape[:2]
        region = magic_wand(self.image, point, FIRST_GUESS_TOLERANCE)
        if region is not None and region.area < 0.5 * height * width:
            x0, y0, x1, y1 = region.tight_box()
            mx, my = max(3.0, (x1 - x0) * 0.15), max(3.0, (y1 - y0) * 0.15)
            box = (x0 - mx, y0 - my, x1 + mx, y1 + my)
        else:
            region = None
            half = max(12.0, min(200.0, min(height, width) / 8))
            box = (point[0] - half, point[1] - half, point[0] + half, point[1] + half)
        self.current = grabcut(self.image, box, positives=[point], prior=region) or region

    def _refine(self) -> None:
        positives = [p for p, positive in self.clicks if positive]
        negatives = [p for p, positive in self.clicks if not positive]
        guess = self.current
        if self.click_model is not None:
            guess = self.click_model(self.image, self.clicks, self.current) or guess
        elif self.segment_box is not None and any(
                self.current is None or not self.current.covers(p) for p in positives):
            found = self.segment_box(self._refine_box(self.current, positives)[0],
                                     self.class_index)
            if found is not None:
                guess = MaskWindow(found.mask, found.origin)
                self.class_index, self.score = found.class_index, found.score
        if guess is not None and all(guess.covers(p) == positive for p, positive in self.clicks):
            self.current = guess
            return
        # a guess that ignores a click: GrabCut from it, every click a sure seed
        box, room = self._refine_box(guess if self.click_model is not None else self.current,
                                     positives)
        self.current = grabcut(self.image, box, positives, negatives, prior=guess,
                               room=room) or guess

    @staticmethod
    def _refine_box(window: MaskWindow | None, positives: Sequence[Point]
                    ) -> tuple[Box, float]:
        """The box round `window` and the positive clicks, and the room GrabCut gets round it:
        outside its box GrabCut takes everything for background, so a box tight on a
        too-small candidate could never let the object out."""
        x0, y0, x1, y1 = window.tight_box() if window is not None else box_of(positives)
        px0, py0, px1, py1 = box_of(positives) if positives else (x0, y0, x1, y1)
        x0, y0, x1, y1 = min(x0, px0), min(y0, py0), max(x1, px1), max(y1, py1)
        return (x0, y0, x1, y1), max(REFINE_ROOM_PX, max(x1 - x0, y1 - y0) * REFINE_ROOM)


def next_click(predicted: np.ndarray, truth: np.ndarray) -> tuple[Point, bool] | None:
    """The simulated annotator of interactive-segmentation papers: the next click goes to the
    point farthest inside the largest error region (missed object: a positive click; extra:
    a negative one). None when there is no error."""
    missed = truth & ~predicted
    extra = predicted & ~truth
    best: tuple[float, Point, bool] | None = None
    for errors, positive in ((missed, True), (extra, False)):
        if not errors.any():
            continue
        padded = np.pad(errors, 1).astype(np.uint8)
        distance = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
        y, x = np.unravel_index(int(distance.argmax()), distance.shape)
        if best is None or distance[y, x] > best[0]:
            best = (float(distance[y, x]), (x + 0.5, y + 0.5), positive)
    return None if best is None else (best[1], best[2])


def next_click_on(predicted: MaskWindow | None, truth: MaskWindow
                  ) -> tuple[Point, bool] | None:
    """next_click between two mask windows (no prediction yet: None), in image pixels."""
    rect = truth.rect if predicted is None else enclosing([truth.rect, predicted.rect])
    shown = np.zeros((rect[3] - rect[1], rect[2] - rect[0]), bool) if predicted is None \
        else predicted.on(rect)
    found = next_click(shown, truth.on(rect))
    if found is None:
        return None
    (x, y), positive = found
    return (x + rect[0], y + rect[1]), positive


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
