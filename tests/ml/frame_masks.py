"""Helpers of the tiled-prediction tests: a detection's box-local mask on the whole frame,
and IoU of two frame masks."""

import numpy as np


def on_frame(det, height, width):
    out = np.zeros((height, width), bool)
    x, y = det.origin
    h, w = det.mask.shape
    out[y:y + h, x:x + w] = det.mask
    return out


def iou(a, b):
    return np.count_nonzero(a & b) / np.count_nonzero(a | b)
