"""What every predictor gives, torch or onnxruntime: detections in image pixels, each mask
pasted only inside its box (never one full-image float mask per detection). No torch here, so
the onnxruntime path (a line PC) never imports it."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeAlias

import cv2
import numpy as np

from isegui.core import rle
from isegui.core.errors import ImageReadError
from isegui.core.geometry import Shape, vectorize
from isegui.core.images import to_uint8
from isegui.core.mask_window import MaskWindow
from isegui.core.progress import Progress
from isegui.core.working_scale import WorkingScale

log = logging.getLogger(__name__)

@dataclass
class Detection:
    class_index: int  # 1..C, as in the model's class list
    class_name: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in image pixels
    mask: np.ndarray  # bool window of the box
    origin: tuple[int, int]  # image position of mask[0, 0]
    # the mean probability over the mask's pixels, where it was measured (a user's box)
    mask_score: float | None = None

    @property
    def window(self) -> MaskWindow:
        return MaskWindow(self.mask, self.origin)

    def shape(self) -> Shape:
        return vectorize(self.mask, self.origin)

    def rle(self, height: int, width: int) -> rle.RLE:
        return rle.encode_window(self.mask, self.origin, height, width)

    @property
    def area(self) -> int:
        return int(self.mask.sum())


class ImagePredictor(Protocol):
    """What the torch Predictor and the OnnxPredictor both are."""
    classes: list[str]
    working: WorkingScale
    threshold: float

    def predict(self, images: list[np.ndarray], batch_size: int = ...
                ) -> list[list[Detection]]: ...

    def set_input_size(self, side: int) -> None: ...


def prepare_image(pixels: np.ndarray) -> np.ndarray:
    """Any image (8/16-bit, gray or colour) as the RGB uint8 the models take."""
    pixels = to_uint8(pixels)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return np.ascontiguousarray(pixels)


def detections_from_raw(boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray,
                        probs: np.ndarray, ratio_xy: tuple[float, float],
                        image_hw: tuple[int, int], classes: list[str],
                        mask_threshold: float = 0.5, offset: tuple[int, int] = (0, 0),
                        clip: tuple[int, int, int, int] | None = None) -> list[Detection]:
    """A model's raw output for one image (boxes at its input scale, M x M mask
    probabilities) as Detections in image pixels, each mask pasted inside its box. For a
    tile, `offset` is its place in the frame and `clip` the frame region it covers."""
    h, w = image_hw
    rx, ry = ratio_xy
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * (rx, ry, rx, ry) \
        + (offset[0], offset[1], offset[0], offset[1])
    labels, scores = np.asarray(labels).ravel(), np.asarray(scores).ravel()
    usable = _usable(boxes, labels, scores, len(classes))
    x0, y0, x1, y1 = clip or (0, 0, w, h)
    boxes = np.clip(boxes, (x0, y0, x0, y0), (x1, y1, x1, y1))  # padding lies outside
    found = []
    for k in np.flatnonzero(usable).tolist():
        pasted = paste_in_box(probs[k], boxes[k], h, w, mask_threshold)
        if pasted is None:
            continue
        label = int(labels[k])
        bx0, by0, bx1, by1 = (float(v) for v in boxes[k])
        found.append(Detection(label, classes[label - 1], float(scores[k]),
                               (bx0, by0, bx1, by1), pasted.mask, pasted.origin))
    return found


def _usable(boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray,
            n_classes: int) -> np.ndarray:
    """Which raw detections can be used: a label in 1..C (0, the background, or one past the
    classes would otherwise wrap round to another class or fail), a finite score and box.
    What is left out is said once a session, as it means the model is not what it claims."""
    n = min(len(boxes), len(labels), len(scores))
    labels, scores = labels[:n], scores[:n]
    integral = np.isfinite(labels) & (labels == np.round(labels)) if labels.dtype.kind == "f" \
        else np.ones(n, bool)
    in_range = integral & (labels >= 1) & (labels <= n_classes)
    finite = np.isfinite(scores) & np.isfinite(boxes[:n]).all(axis=1)
    if not in_range.all():
        _say_once("label", f"a model gave labels outside 1..{n_classes} (its classes): "
                  "those detections are left out")
    if not finite.all():
        _say_once("nan", "a model gave a score or a box that is not a number: those "
                  "detections are left out")
    return np.asarray(in_range & finite)


_said: set[str] = set()


def _say_once(kind: str, message: str) -> None:
    if kind not in _said:
        _said.add(kind)
        log.warning(message)


def paste_in_box(prob: np.ndarray, box: Iterable[float], height: int, width: int,
                 threshold: float = 0.5) -> MaskWindow | None:
    """Resample an M x M mask of probabilities onto the image pixels of its box (bilinear, at
    pixel centres) and threshold it: its window, or None when nothing is left."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if x1 <= x0 or y1 <= y0:
        return None
    wx0, wy0 = max(0, math.floor(x0)), max(0, math.floor(y0))
    wx1, wy1 = min(width, math.ceil(x1)), min(height, math.ceil(y1))
    if wx1 <= wx0 or wy1 <= wy0:
        return None
    m = prob.shape[0]
    ax, ay = m / (x1 - x0), m / (y1 - y0)
    # window pixel (j, i) has its centre at image x = wx0 + j + 0.5; its place in the mask grid
    # (cell centres at 0.5 .. m - 0.5) is u = (x - x0) * ax - 0.5
    affine = np.array([[ax, 0, (wx0 + 0.5 - x0) * ax - 0.5],
                       [0, ay, (wy0 + 0.5 - y0) * ay - 0.5]], dtype=np.float64)
    window = cv2.warpAffine(prob.astype(np.float32), affine, (wx1 - wx0, wy1 - wy0),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    mask = window > threshold
    if not mask.any():
        return None
    return MaskWindow(mask, (wx0, wy0))


# an image file, its (height, width) and detections; or the file, None and why it was unread
FilePrediction: TypeAlias = (tuple[Path, tuple[int, int], list[Detection]]
                             | tuple[Path, None, ImageReadError])


def iter_predictions(predictor: ImagePredictor, files: list[Path], batch_size: int = 4,
                     progress: Progress | None = None) -> Iterator[FilePrediction]:
    """(file, (height, width), detections) for each image file, in batches. An image that
    cannot be read is skipped with its error instead of stopping the rest."""
    from isegui.core.images import load_image
    done = 0
    for start in range(0, len(files), batch_size):
        chunk, images, errors = [], [], []
        for path in files[start:start + batch_size]:
            try:
                images.append(load_image(path))
                chunk.append(path)
            except ImageReadError as exc:
                errors.append((path, exc))
        results = predictor.predict(images, batch_size) if images else []
        for path, error in errors:
            yield path, None, error
        for path, image, found in zip(chunk, images, results):
            yield path, image.shape[:2], found
        done += len(files[start:start + batch_size])
        if progress:
            progress(done, len(files), str(files[min(done, len(files)) - 1]))
