"""Blob classes: defects learned pixel by pixel and split into instances by connected
components, as blob analysis in an inspection suite does. A 3-px scratch across a 300-px box is
thinner than one cell of a detector's 28 x 28 box mask and too faint for its 7 x 7 box features
(bench/mask_resolution.py, bench/large_frames.py); a map of class probabilities at the tile's
own pixels keeps it whole. It only fits classes whose objects never touch one another, which
core.working_scale checks on the labels before a run gets any.

This module turns such a map into detections; no torch here (the onnxruntime path uses it).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from isegui.core.mask_window import MaskWindow
from isegui.core.working_scale import BLOB_JOIN_PX
from isegui.ml.infer.detection import Detection

MIN_BLOB_PX = 4  # fewer pixels than this (at the model's scale): noise, not an instance


def blob_detections(probs: np.ndarray, blob_labels: Sequence[int], classes: Sequence[str],
                    ratio_xy: tuple[float, float], offset: tuple[int, int] = (0, 0),
                    threshold: float = 0.5, mask_threshold: float = 0.5,
                    areas: Sequence[tuple[float, float]] = ()) -> list[Detection]:
    """Detections from a tile's blob probabilities `probs` (one channel per blob class, in
    the order of `blob_labels`, at the tile's model pixels), in frame pixels: the tile maps
    to the frame by `ratio_xy` (frame px per model px) and `offset` (its top-left). Each
    connected region of a class is one instance (pieces within BLOB_JOIN_PX joined: a scratch
    that fades in its middle stays one), its score the mean probability over its pixels;
    those below `threshold` are left out, and those whose area (model px) falls outside the
    class's `areas` limits (core.working_scale.blob_area_limits; none: no limits)."""
    found: list[Detection] = []
    rx, ry = ratio_xy
    reach = 2 * BLOB_JOIN_PX + 1
    join = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach))
    for channel, label in enumerate(blob_labels):
        least, most = areas[channel] if channel < len(areas) else (0.0, float("inf"))
        prob = probs[channel]
        mask = (prob > mask_threshold).astype(np.uint8)
        if not mask.any():
            continue
        count, groups, stats, _ = cv2.connectedComponentsWithStats(cv2.dilate(mask, join),
                                                                   connectivity=8)
        for group in range(1, count):
            x, y, w, h = (int(v) for v in stats[group, :4])
            window = (groups[y:y + h, x:x + w] == group) & mask[y:y + h, x:x + w].astype(bool)
            pixels = int(window.sum())
            if pixels < max(MIN_BLOB_PX, least) or pixels > most:
                continue
            score = float(prob[y:y + h, x:x + w][window].mean())
            if score < threshold:
                continue
            # the group's box holds the joining reach too: the window of its own pixels
            own = MaskWindow.trimmed(window, (x, y))
            assert own is not None  # it holds at least MIN_BLOB_PX pixels
            found.append(_in_frame(own, (rx, ry), offset, label, classes, score))
    return found


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
