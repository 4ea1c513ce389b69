"""Prediction: a loaded model that turns images into detections. Masks are pasted only inside
each detection's box (never one full-image float mask per detection)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from isegui.core import rle
from isegui.core.geometry import Shape, vectorize
from isegui.core.tiling import WHOLE, WorkingScale
from isegui.ml.checkpoint import load_checkpoint
from isegui.ml.data import prepare_image
from isegui.ml.device import resolve_device
from isegui.ml.registry import model_from_checkpoint
from isegui.ml.tiled import predict_frame, torch_tile_runner


@dataclass
class Detection:
    class_index: int  # 1..C, as in the model's class list
    class_name: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in image pixels
    mask: np.ndarray  # bool window of the box
    origin: tuple[int, int]  # image position of mask[0, 0]

    def shape(self) -> Shape:
        return vectorize(self.mask, self.origin)

    def rle(self, height: int, width: int) -> dict:
        return rle.encode_window(self.mask, self.origin, height, width)

    @property
    def area(self) -> int:
        return int(self.mask.sum())


class Predictor:
    """Holds a model in eval mode on a device; `predict` takes images in any depth, at the
    run's working scale: the whole image resized, or tiles of the frame (ml.tiled)."""

    def __init__(self, model: nn.Module, classes: list[str], device: torch.device,
                 threshold: float = 0.5, mask_threshold: float = 0.5,
                 working: WorkingScale | None = None):
        self.model = model.to(device).eval()
        self.classes = list(classes)
        self.device = device
        self.threshold = threshold
        self.mask_threshold = mask_threshold
        self.working = working or WorkingScale(WHOLE, int(model.transform.max_size))

    @property
    def threshold(self) -> float:
        return self.model.roi_heads.score_thresh

    @threshold.setter
    def threshold(self, value: float) -> None:
        # scores below the threshold are dropped before the mask head runs
        self.model.roi_heads.score_thresh = float(value)

    def set_input_size(self, side: int) -> None:
        """Predict with images resized so their long side is `side` (the training size by
        default): smaller is faster, larger finds smaller objects. Whole-image runs only."""
        if self.working.tiled:
            raise ValueError("this run predicts on tiles of its own size and scale")
        self.model.transform.min_size = (int(side),)
        self.model.transform.max_size = int(side)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto",
                        threshold: float = 0.5) -> Predictor:
        data = load_checkpoint(path)
        return cls(model_from_checkpoint(data, path), data["classes"], resolve_device(device),
                   threshold,
                   working=WorkingScale.from_dict(data.get("working_scale"), data["size"]))

    @torch.inference_mode()
    def predict(self, images: list[np.ndarray], batch_size: int = 4) -> list[list[Detection]]:
        if self.working.tiled:  # one frame at a time, its tiles in batches (on a CPU, one
            # by one: batches of tiles are slower there, bench/large_frames.py)
            run = torch_tile_runner(self.model, self.device, self.working.size)
            batch = 1 if self.device.type == "cpu" else batch_size
            return [predict_frame(image, self.working, run, self.classes, batch,
                                  self.mask_threshold) for image in images]
        out: list[list[Detection]] = []
        for start in range(0, len(images), batch_size):
            out += self._predict_batch(images[start:start + batch_size])
        return out

    def _predict_batch(self, images: list[np.ndarray]) -> list[list[Detection]]:
        model = self.model
        tensors = [torch.from_numpy(prepare_image(im)).permute(2, 0, 1).to(self.device)
                   .float().div_(255.0) for im in images]
        originals = [t.shape[-2:] for t in tensors]
        batch, _ = model.transform(tensors)
        # NHWC input: oneDNN's convolutions run about 1.3x faster on a CPU. (Converting the
        # weights too gains a little more, but then a later training in the same process no
        # longer resumes bit for bit.)
        features = model.backbone(batch.tensors.contiguous(memory_format=torch.channels_last))
        proposals, _ = model.rpn(batch, features)
        results, _ = model.roi_heads(features, proposals, batch.image_sizes)
        detections = []
        for result, resized, (h, w) in zip(results, batch.image_sizes, originals):
            detections.append(detections_from_raw(
                result["boxes"].cpu().numpy(), result["labels"].cpu().numpy(),
                result["scores"].cpu().numpy(), result["masks"][:, 0].float().cpu().numpy(),
                (w / resized[1], h / resized[0]), (int(h), int(w)), self.classes,
                self.mask_threshold))
        return detections


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
    x0, y0, x1, y1 = clip or (0, 0, w, h)
    boxes = np.clip(boxes, (x0, y0, x0, y0), (x1, y1, x1, y1))  # padding lies outside
    found = []
    for box, label, score, prob in zip(boxes, labels.tolist(), scores.tolist(), probs):
        pasted = paste_in_box(prob, box, h, w, mask_threshold)
        if pasted is None:
            continue
        mask, origin = pasted
        found.append(Detection(int(label), classes[int(label) - 1], float(score),
                               tuple(float(v) for v in box), mask, origin))
    return found


def paste_in_box(prob: np.ndarray, box, height: int, width: int, threshold: float = 0.5):
    """Resample an M x M mask of probabilities onto the image pixels of its box (bilinear, at
    pixel centres) and threshold it: (bool window, origin), or None when nothing is left."""
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
    return mask, (wx0, wy0)


def load_predictor(path: str | Path, device: str = "auto", threshold: float = 0.5):
    """The predictor for a checkpoint (.pt, torch) or an exported model (.onnx,
    onnxruntime); both have the same `predict`."""
    if Path(path).suffix.lower() == ".onnx":
        from isegui.ml.onnx_model import OnnxPredictor
        return OnnxPredictor.from_file(path, threshold)
    return Predictor.from_checkpoint(path, device, threshold)


def iter_predictions(predictor: Predictor, files: list[Path], batch_size: int = 4,
                     progress=None):
    """(file, (height, width), detections) for each image file, in batches. An image that
    cannot be read is skipped with its error instead of stopping the rest."""
    from isegui.core.errors import ImageReadError
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
        for path, exc in errors:
            yield path, None, exc
        for path, image, found in zip(chunk, images, results):
            yield path, image.shape[:2], found
        done += len(files[start:start + batch_size])
        if progress:
            progress(done, len(files), str(files[min(done, len(files)) - 1]))
