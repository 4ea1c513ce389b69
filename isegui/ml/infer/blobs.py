"""Blob classes: defects learned pixel by pixel and split into instances by connected
components, as blob analysis in an inspection suite does. A 3-px scratch across a 300-px box is
thinner than one cell of a detector's 28 x 28 box mask and too faint for its 7 x 7 box features
(bench/mask_resolution.py, bench/large_frames.py); a map of class probabilities at the tile's
own pixels keeps it whole. Objects of a class that touch or cross are told apart by the
class's shape kind (ml.infer.separate; core.working_scale.pixel_classes chooses it from the
labels).

This module turns such a map into detections; no torch here (the onnxruntime path uses it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from isegui.core.mask_window import MaskWindow
from isegui.core.working_scale import BLOB_JOIN_PX, LINE, ShapeKind
from isegui.ml.infer.detection import Detection
from isegui.ml.infer.separate import join_lines, separate

MIN_BLOB_PX = 4  # fewer pixels than this (at the model's scale): noise, not an instance
FILLED_HOLE = 0.8  # a hole in a class's region this much covered by other objects is its own
SHORT_LINE_SHARE = 0.5  # a line piece shorter than this share of its class's short lines is none
# a gap between two pieces of a line is bridged where the map gives the line at least this
# much along most of it (a faint stretch of a scratch: the map shows it in dashes, each too
# short to match its label)
WEAK_LINE = 0.2


def blob_detections(probs: np.ndarray, blob_labels: Sequence[int], classes: Sequence[str],
                    ratio_xy: tuple[float, float], offset: tuple[int, int] = (0, 0),
                    threshold: float = 0.5, mask_threshold: float | Sequence[float] = 0.5,
                    areas: Sequence[tuple[float, float]] = (),
                    kinds: Sequence[ShapeKind] = ()) -> list[Detection]:
    """Detections from blob probabilities `probs` (one channel per blob class, in the order
    of `blob_labels`, at model pixels: a tile's, or a whole frame's stitched map), in frame
    pixels: the map maps to the frame by `ratio_xy` (frame px per model px) and `offset` (its
    top-left). Each connected region of a class (pieces within BLOB_JOIN_PX joined: a scratch
    that fades in its middle stays one) is split into the objects it holds by the class's
    shape kind in `kinds` (ml.infer.separate: crossing lines, touching spots; none: the region
    is one object), and pieces of a line that another object interrupts are joined across
    it. An object's score is the mean probability over its pixels; those below `threshold`
    are left out, and those whose area (model px) falls outside the class's `areas` limits
    (core.working_scale.blob_area_limits; none: no limits). A pixel is a class's where its
    probability passes `mask_threshold`: one for all, or one per channel (calibrated,
    core.working_scale.WorkingScale.blob_cutoffs)."""
    found: list[Detection] = []
    cutoffs = np.broadcast_to(np.asarray(mask_threshold, np.float32), (probs.shape[0],))
    masks = probs > cutoffs[:, None, None]
    # how many classes claim each pixel: a class's "others" are where more than it does
    claims = masks.sum(axis=0, dtype=np.uint8) if kinds and len(blob_labels) > 1 else None
    widest_line = max((k.size for k in kinds if k.kind == LINE), default=0.0)
    for channel, label in enumerate(blob_labels):
        kind = kinds[channel] if channel < len(kinds) else ShapeKind()
        least, most = areas[channel] if channel < len(areas) else (0.0, float("inf"))
        if not masks[channel].any():
            continue
        mask = masks[channel]
        others = claims > mask if claims is not None else None
        if others is not None and kind.kind != LINE:
            mask = _under_lines(mask, others, widest_line)
        regions = _regions(mask)
        if others is not None and kind.kind != LINE:
            regions = [_with_covered_holes(region, others) for region in regions]
        pieces = [piece for region in regions for piece in separate(region, kind)]
        if kind.kind == LINE and len(pieces) > 1:
            # a line the map shows in dashes is one line: its pieces are joined across gaps
            # where the map still sees some of it, or another object lies over it
            seen = probs[channel] > WEAK_LINE
            pieces = join_lines(pieces, kind.size, seen if others is None else seen | others)
        for piece in pieces:
            pixels = piece.area
            if pixels < max(MIN_BLOB_PX, least) or pixels > most or not _fits(piece, kind):
                continue
            x0, y0, x1, y1 = piece.rect
            own = piece.mask & masks[channel, y0:y1, x0:x1]  # not a joint drawn through a gap
            score = float(probs[channel, y0:y1, x0:x1][own].mean()) if own.any() else 0.0
            if score >= threshold:
                found.append(_in_frame(piece, ratio_xy, offset, label, classes, score))
    return found


def _fits(piece: MaskWindow, kind: ShapeKind) -> bool:
    """Whether a piece has its class's shape: a line's is a line at least SHORT_LINE_SHARE of
    its labels' short ones long (a speck of texture is no scratch); the rest take any."""
    if kind.kind != LINE or kind.length <= 0:
        return True
    points = np.argwhere(piece.mask).astype(np.float32)
    if len(points) < 3:
        return False
    (_, _), (w, h), _ = cv2.minAreaRect(points)
    return max(w, h) + 1 >= SHORT_LINE_SHARE * kind.length


def _under_lines(mask: np.ndarray, others: np.ndarray, line_width: float) -> np.ndarray:
    """A class's map with a line's width across its objects given back where another object
    covers it (the map shows the scratch there; the pit lies under it)."""
    if line_width <= 0:
        return mask
    reach = 2 * int(math.ceil(line_width)) + 3  # lines vary: up to twice the typical width
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach))
    closed = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, kernel) > 0
    out: np.ndarray = mask | (closed & others)
    return out


def _with_covered_holes(region: MaskWindow, others: np.ndarray) -> MaskWindow:
    """The region with its holes filled where other objects fill them (a stain round a pit:
    the map shows the pit there, the stain lies under it)."""
    x0, y0, x1, y1 = region.rect
    outside = np.pad(~region.mask, 1, constant_values=True).astype(np.uint8)
    count, holes = cv2.connectedComponents(outside, connectivity=4)
    if count <= 2:  # the outside alone: no holes
        return region
    holes = holes[1:-1, 1:-1]
    covered = others[y0:y1, x0:x1]
    # each hole's size and covered pixels at once (a loop over holes scanned the window
    # once per hole: 10 ms a region on a noisy map)
    size = np.bincount(holes.ravel(), minlength=count)
    cover = np.bincount(holes.ravel(), weights=covered.ravel(), minlength=count)
    filled = cover >= FILLED_HOLE * np.maximum(size, 1)
    filled[:2] = False  # 0 is the region, 1 the outside, which reaches the padding first
    if not filled.any():
        return region
    return MaskWindow(region.mask | filled[holes], region.origin)


def _regions(mask: np.ndarray) -> list[MaskWindow]:
    """The connected regions of a bool map, pieces within BLOB_JOIN_PX joined, each as the
    window of its own pixels."""
    reach = 2 * BLOB_JOIN_PX + 1
    join = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach))
    pixels = mask.astype(np.uint8)
    count, groups, stats, _ = cv2.connectedComponentsWithStats(cv2.dilate(pixels, join),
                                                               connectivity=8)
    regions = []
    for group in range(1, count):
        x, y, w, h = (int(v) for v in stats[group, :4])
        window = (groups[y:y + h, x:x + w] == group) & mask[y:y + h, x:x + w]
        # the group's box holds the joining reach too: the window of its own pixels
        own = MaskWindow.trimmed(window, (x, y))
        if own is not None:
            regions.append(own)
    return regions


def _in_frame(own: MaskWindow, ratio: tuple[float, float], offset: tuple[int, int], label: int,
              classes: Sequence[str], score: float) -> Detection:
    """A blob found at model pixels as a Detection at frame pixels."""
    window, (x, y) = own.mask, own.origin
    rx, ry = ratio
    if (rx, ry) != (1.0, 1.0):  # the tile was scaled: the window back to frame pixels
        fx0, fy0 = int(np.floor(x * rx)), int(np.floor(y * ry))
        fx1 = max(fx0 + 1, int(np.ceil((x + window.shape[1]) * rx)))
        fy1 = max(fy0 + 1, int(np.ceil((y + window.shape[0]) * ry)))
        window = cv2.resize(window.astype(np.uint8), (fx1 - fx0, fy1 - fy0),
                            interpolation=cv2.INTER_NEAREST).astype(bool)
        x, y = fx0, fy0
    ox, oy = offset[0] + x, offset[1] + y
    box = (float(ox), float(oy), float(ox + window.shape[1]), float(oy + window.shape[0]))
    return Detection(int(label), classes[int(label) - 1], score, box, window, (ox, oy))
