"""Where a frame looks like a defect and is not one: the places its unlabeled pixels stand out
most from their surroundings (dust, fibres, reflections, the edges of the part, the strongest
streaks of a texture). Training centres part of its background crops there, so that what a
model most easily mistakes for a defect is taught as background, not only what a random crop
happens to hold.

The contrast is a pixel's distance from the local mean over BACKGROUND_PX (dark and bright
alike; ranked within the frame, so a dark casting and a bright panel need no setting). The
frame is split
into CELL_PX cells; a cell counts by its strongest unlabeled pixel; the HARD_CELLS strongest
cells are the places, each at its strongest pixel.

A model's own mistakes are harder still: after each validation the trainer predicts a few
training frames and the confident detections clear of every label (mistaken_places) become
places too (ml.train.tile_data: background crops go there first)."""

from __future__ import annotations

import cv2
import numpy as np

BACKGROUND_PX = 31  # the local mean's window: wider than a pit, narrower than a stain's glow
CELL_PX = 32  # one place at most per cell, so one bright streak does not take every crop
HARD_CELLS = 64  # places kept per frame
LABEL_MARGIN_PX = BACKGROUND_PX // 2 + 1  # a label's box and the halo the local mean gives it
MISTAKE_SCORE = 0.3  # a detection this sure, clear of every label, is a mistake worth teaching


def salient_places(pixels: np.ndarray, label_boxes: np.ndarray,
                   cells: int = HARD_CELLS) -> np.ndarray:
    """(N, 2) int (x, y) of the frame's most defect-like unlabeled places, strongest first,
    N <= `cells`; `pixels` H x W x 3 uint8, `label_boxes` (M, 4) x0 y0 x1 y1 in its pixels."""
    gray = pixels.astype(np.float32).mean(axis=2)
    local = cv2.blur(gray, (BACKGROUND_PX, BACKGROUND_PX), borderType=cv2.BORDER_REFLECT)
    contrast = np.abs(gray - local)
    height, width = contrast.shape
    for x0, y0, x1, y1 in np.asarray(label_boxes, dtype=float).reshape(-1, 4):
        contrast[max(0, int(y0) - LABEL_MARGIN_PX):max(0, int(np.ceil(y1)) + LABEL_MARGIN_PX),
                 max(0, int(x0) - LABEL_MARGIN_PX):max(0, int(np.ceil(x1)) + LABEL_MARGIN_PX)] = 0
    rows, cols = -(-height // CELL_PX), -(-width // CELL_PX)
    padded = np.zeros((rows * CELL_PX, cols * CELL_PX), np.float32)
    padded[:height, :width] = contrast
    blocks = padded.reshape(rows, CELL_PX, cols, CELL_PX).transpose(0, 2, 1, 3).reshape(
        rows, cols, CELL_PX * CELL_PX)
    peak = blocks.max(axis=2)
    order = np.argsort(-peak, axis=None)[:cells]
    order = order[peak.flat[order] > 0]
    r, c = np.unravel_index(order, peak.shape)
    inside = blocks[r, c].argmax(axis=1)
    xs = c * CELL_PX + inside % CELL_PX
    ys = r * CELL_PX + inside // CELL_PX
    return np.stack([xs, ys], axis=1).astype(int)


def mistaken_places(centres: np.ndarray, scores: np.ndarray, avoid_boxes: np.ndarray,
                    cells: int = HARD_CELLS) -> np.ndarray:
    """(N, 2) int (x, y) of the detections (`centres` (K, 2) x y, `scores` (K,)) scoring at
    least MISTAKE_SCORE whose centres lie clear of every box of `avoid_boxes` ((M, 4) x0 y0 x1
    y1: labels and regions to ignore, widened by LABEL_MARGIN_PX); surest first, one per
    CELL_PX cell, N <= `cells`. All in one frame's pixels."""
    centres = np.asarray(centres, dtype=float).reshape(-1, 2)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    boxes = np.asarray(avoid_boxes, dtype=float).reshape(-1, 4)
    keep = scores >= MISTAKE_SCORE
    if len(boxes):
        x, y = centres[:, :1], centres[:, 1:]
        near = ((x >= boxes[:, 0] - LABEL_MARGIN_PX) & (x <= boxes[:, 2] + LABEL_MARGIN_PX) &
                (y >= boxes[:, 1] - LABEL_MARGIN_PX) & (y <= boxes[:, 3] + LABEL_MARGIN_PX))
        keep &= ~near.any(axis=1)
    places, taken = [], set()
    for k in np.flatnonzero(keep)[np.argsort(-scores[keep], kind="stable")]:
        cell = (int(centres[k, 0]) // CELL_PX, int(centres[k, 1]) // CELL_PX)
        if cell not in taken:
            taken.add(cell)
            places.append(centres[k])
            if len(places) == cells:
                break
    return np.array(places, dtype=float).reshape(-1, 2).round().astype(int)
