"""Prediction on tiles: overlapping tiles over the whole frame at the run's working scale, run in
batches by any model (torch or onnxruntime: a `run_tiles` function; the torch one is
ml.model.torch_predictor.torch_tile_runner), each detection mapped back to frame pixels, and the
pieces that tile borders cut or that two tiles both saw merged into one instance per object
(core.tiling). Masks are pasted box-local in frame pixels; no full-frame array is made per
detection, nor a resized copy of the frame."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from isegui.core.tiling import Piece, merge_pieces, tile_grid
from isegui.core.working_scale import WorkingScale
from isegui.ml.infer.blobs import blob_detections
from isegui.ml.infer.detection import Detection, detections_from_raw, prepare_image

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
    """Detections (ml.model.torch_predictor.Detection) on one frame of any size, by tiles; blobs
    (ml.infer.blobs) scoring below `threshold` left out (the model's own heads apply it to the
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
                               piece.window.tight_box(), piece.mask, piece.origin))
    return found


# what a model that runs no detector gives for a tile (a blob-only run)
NOTHING: RawOutput = (np.zeros((0, 4), np.float32), np.zeros(0, np.int64),
                      np.zeros(0, np.float32), np.zeros((0, 28, 28), np.float32))
