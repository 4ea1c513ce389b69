"""Prediction with torch: a loaded model that turns images into detections (ml.infer.detection;
the onnxruntime predictor gives the same), on whole images or on tiles (ml.infer.tiled runs the
tiles through `torch_tile_runner`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models.detection.image_list import ImageList

from isegui.core.working_scale import WHOLE, WorkingScale
from isegui.ml.infer.detection import Detection, detections_from_raw, prepare_image
from isegui.ml.infer.tiled import NOTHING, BlobMap, RunTiles, TileOutput, predict_frame
from isegui.ml.model.blob_head import blob_probabilities, runs_detector
from isegui.ml.model.checkpoint import load_checkpoint
from isegui.ml.model.device import resolve_device
from isegui.ml.model.registry import model_from_checkpoint

if TYPE_CHECKING:
    from torchvision.models.detection import MaskRCNN


class Predictor:
    """Holds a model in eval mode on a device; `predict` takes images in any depth, at the
    run's working scale: the whole image resized, or tiles of the frame (ml.infer.tiled)."""

    def __init__(self, model: MaskRCNN, classes: list[str], device: torch.device,
                 threshold: float = 0.5, mask_threshold: float = 0.5,
                 working: WorkingScale | None = None):
        self.model = model.to(device).eval()
        self.classes = list(classes)
        self.device = device
        self.threshold = threshold
        self.mask_threshold = mask_threshold
        self.working = working or WorkingScale(WHOLE, int(model.transform.max_size))
        # called with each tiled frame's stitched blob map (ml.infer.tiled.predict_frame)
        self.blob_map_seen: Callable[[BlobMap], None] | None = None

    @property
    def threshold(self) -> float:
        return float(self.model.roi_heads.score_thresh)

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
                                  self.mask_threshold, self.threshold, self.blob_map_seen)
                    for image in images]
        out: list[list[Detection]] = []
        for start in range(0, len(images), batch_size):
            out += self._predict_batch(images[start:start + batch_size])
        return out

    def _predict_batch(self, images: list[np.ndarray]) -> list[list[Detection]]:
        model = self.model
        tensors = [torch.from_numpy(prepare_image(im)).permute(2, 0, 1).to(self.device)
                   .float().div_(255.0) for im in images]
        originals = [t.shape[-2:] for t in tensors]
        tensors = [_at_least_a_pixel_high(t, int(model.transform.max_size)) for t in tensors]
        padded = [t.shape[-2:] for t in tensors]
        batch, _ = model.transform(tensors)
        # NHWC input: oneDNN's convolutions run about 1.3x faster on a CPU. (Converting the
        # weights too gains a little more, but then a later training in the same process no
        # longer resumes bit for bit.)
        features = model.backbone(batch.tensors.contiguous(memory_format=torch.channels_last))
        proposals, _ = model.rpn(batch, features)
        results, _ = model.roi_heads(features, proposals, batch.image_sizes)
        detections = []
        for result, resized, (h, w), (ph, pw) in zip(results, batch.image_sizes, originals,
                                                      padded):
            detections.append(detections_from_raw(
                result["boxes"].cpu().numpy(), result["labels"].cpu().numpy(),
                result["scores"].cpu().numpy(), result["masks"][:, 0].float().cpu().numpy(),
                (pw / resized[1], ph / resized[0]), (int(h), int(w)), self.classes,
                self.mask_threshold))
        return detections


def _at_least_a_pixel_high(image: torch.Tensor, max_size: int) -> torch.Tensor:
    """`image` (C, H, W) padded below or to the right with black until the model's resize
    (long side to `max_size`) leaves its short side a pixel at least: a line-scan strip of
    65000 x 1 would come to 0 px and stop the model."""
    h, w = image.shape[-2:]
    short = math.ceil(max(h, w) / max_size) + 1
    if min(h, w) >= short:
        return image
    return F.pad(image, (0, max(0, short - w), 0, max(0, short - h)))


def torch_tile_runner(model: MaskRCNN, device: torch.device, size: int) -> RunTiles:
    """Tiles through a torchvision detection model at their own size (no resizing): each is
    normalised and placed top-left in a `size` x `size` batch slot; the rest is zero, which is
    what the model's own batching pads with."""
    @torch.inference_mode()
    def run(tiles: list[np.ndarray]) -> list[TileOutput]:
        batch = torch.zeros((len(tiles), 3, size, size), device=device)
        sizes = []
        for k, tile in enumerate(tiles):
            x = torch.from_numpy(tile).to(device).permute(2, 0, 1).float().div_(255.0)
            h, w = tile.shape[:2]
            batch[k, :, :h, :w] = model.transform.normalize(x)
            sizes.append((h, w))
        batch = batch.contiguous(memory_format=torch.channels_last)
        raws = [NOTHING] * len(tiles)
        if runs_detector(model):
            features = model.backbone(batch)
            proposals, _ = model.rpn(ImageList(batch, sizes), features)
            results, _ = model.roi_heads(features, proposals, sizes)
            raws = [(r["boxes"].cpu().numpy(), r["labels"].cpu().numpy(),
                     r["scores"].cpu().numpy(), r["masks"][:, 0].float().cpu().numpy())
                    for r in results]
        probs = blob_probabilities(model, batch)
        blobs = [None if probs is None else probs[k, :, :h, :w].float().cpu().numpy()
                 for k, (h, w) in enumerate(sizes)]
        return list(zip(raws, blobs))
    return run
