"""Prediction on tiles: overlapping tiles over the whole frame at the run's working scale, run
in batches by any model (torch or onnxruntime: a `run_tiles` function), each detection mapped
back to frame pixels, and the pieces that tile borders cut or that two tiles both saw merged
into one instance per object (core.tiling). Masks are pasted box-local in frame pixels; no
full-frame array is made per detection, nor a resized copy of the frame."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from isegui.core.tiling import Piece, WorkingScale, merge_pieces, tile_grid
from isegui.ml.blobs import blob_detections
from isegui.ml.detection import Detection, detections_from_raw, prepare_image

if TYPE_CHECKING:
    import torch
    from torchvision.models.detection import MaskRCNN

# a model's raw output for one tile, in the tile's model pixels:
# (boxes N x 4, labels N, scores N, mask probabilities N x M x M)
RawOutput = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
# and its blob probabilities (blob classes x tile height x width; None: no blob head)
TileOutput = tuple[RawOutput, np.ndarray | None]
RunTiles = Callable[[list[np.ndarray]], list[TileOutput]]


def tile_pixels(frame: np.ndarray, rect: tuple[int, int, int, int], scale: float,
                size: int) -> np.ndarray:
    """The frame's pixels in `rect` at `scale` (RGB uint8), at most `size` each way."""
    x0, y0, x1, y1 = rect
    crop = frame[y0:y1, x0:x1]
    if scale == 1.0:
        return np.ascontiguousarray(crop)
    w = min(size, max(1, round((x1 - x0) * scale)))
    h = min(size, max(1, round((y1 - y0) * scale)))
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if scale < 1
                      else cv2.INTER_LINEAR)


def predict_frame(image: np.ndarray, working: WorkingScale, run_tiles: RunTiles,
                  classes: Sequence[str], batch_size: int = 4, mask_threshold: float = 0.5,
                  threshold: float = 0.5) -> list[Detection]:
    """Detections (ml.predict.Detection) on one frame of any size, by tiles; blobs
    (ml.blobs) scoring below `threshold` left out (the model's own heads apply it to the
    rest)."""
    frame = prepare_image(image)
    height, width = frame.shape[:2]
    tiles = tile_grid(width, height, working.window)
    blob_labels = working.blob_labels(classes)
    pieces: list[Piece] = []
    for start in range(0, len(tiles), batch_size):
        rects = tiles[start:start + batch_size]
        pixels = [tile_pixels(frame, r, working.scale, working.size) for r in rects]
        for k, (rect, tile, (raw, blobs)) in enumerate(zip(rects, pixels, run_tiles(pixels))):
            x0, y0, x1, y1 = rect
            ratio = ((x1 - x0) / tile.shape[1], (y1 - y0) / tile.shape[0])
            found = detections_from_raw(*raw, ratio, (height, width), list(classes),
                                        mask_threshold, offset=(x0, y0), clip=rect)
            if blobs is not None:
                found += blob_detections(blobs, blob_labels, classes, ratio, (x0, y0),
                                         threshold, mask_threshold, working.blob_areas)
            for det in found:
                pieces.append(Piece(det.class_index, det.score, det.mask, det.origin,
                                    start + k))
    found = []
    for piece in merge_pieces(pieces, tiles):
        found.append(Detection(piece.class_index, classes[piece.class_index - 1], piece.score,
                               _tight_box(piece), piece.mask, piece.origin))
    return found


def _tight_box(piece: Piece) -> tuple[float, float, float, float]:
    """The box of the mask's pixels (their edges) in frame pixels."""
    rows, cols = np.nonzero(piece.mask.any(axis=1))[0], np.nonzero(piece.mask.any(axis=0))[0]
    x, y = piece.origin
    return (float(x + cols[0]), float(y + rows[0]), float(x + cols[-1] + 1),
            float(y + rows[-1] + 1))


def torch_tile_runner(model: MaskRCNN, device: torch.device, size: int) -> RunTiles:
    """Tiles through a torchvision detection model at their own size (no resizing): each is
    normalised and placed top-left in a `size` x `size` batch slot; the rest is zero, which is
    what the model's own batching pads with."""
    import torch
    from torchvision.models.detection.image_list import ImageList

    from isegui.ml.blob_head import blob_probabilities, runs_detector

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


NOTHING: RawOutput = (np.zeros((0, 4), np.float32), np.zeros(0, np.int64),
                      np.zeros(0, np.float32), np.zeros((0, 28, 28), np.float32))
