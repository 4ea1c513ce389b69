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

from isegui.core.tiling import Piece, Tile, frame_tiles, merge_pieces
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
    """The frame's pixels in `rect` at `scale` (RGB uint8), at most `size` each way; where
    `rect` passes the frame's edges, the frame mirrored there (core.tiling.frame_tiles)."""
    x0, y0, x1, y1 = rect
    height, width = frame.shape[:2]
    crop = frame[max(0, y0):min(height, y1), max(0, x0):min(width, x1)]
    pad = (max(0, -y0), max(0, y1 - height)), (max(0, -x0), max(0, x1 - width))
    if any(pad[0]) or any(pad[1]):
        crop = np.pad(crop, (*pad, (0, 0)), mode="symmetric")
    if scale == 1.0:
        return np.ascontiguousarray(crop)
    w = min(size, max(1, round((x1 - x0) * scale)))
    h = min(size, max(1, round((y1 - y0) * scale)))
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if scale < 1
                      else cv2.INTER_LINEAR)


def predict_frame(image: np.ndarray, working: WorkingScale, run_tiles: RunTiles,
                  classes: Sequence[str], batch_size: int = 4, mask_threshold: float = 0.5,
                  threshold: float = 0.5,
                  blob_map_seen: Callable[[BlobMap], None] | None = None) -> list[Detection]:
    """Detections (ml.infer.detection) on one frame of any size, by tiles, best score first.

    Each tile decides its core only (core.tiling.frame_tiles): the detector's pieces that do
    not reach into it are left to the neighbour that sees them better, the rest are joined
    across tile borders (core.tiling.merge_pieces); blob probabilities are stitched into one
    map of the frame from the cores, and its connected regions are the blobs (ml.infer.blobs),
    so a thin scratch across three tiles is one region, never three pieces to join. Blobs
    scoring below `threshold` are left out (the detector's own heads apply it to the rest).
    `blob_map_seen`, when given, is handed the stitched map (training calibrates on it)."""
    frame = prepare_image(image)
    height, width = frame.shape[:2]
    tiles = frame_tiles(width, height, working.window)
    blob_labels = working.blob_labels(classes)
    blob_map = BlobMap(len(blob_labels), width, height, working.scale) if blob_labels else None
    pieces: list[Piece] = []
    for start in range(0, len(tiles), batch_size):
        batch = tiles[start:start + batch_size]
        pixels = [tile_pixels(frame, t.rect, working.scale, working.size) for t in batch]
        for k, (tile, seen, (raw, blobs)) in enumerate(zip(batch, pixels, run_tiles(pixels))):
            x0, y0, x1, y1 = tile.rect
            ratio = ((x1 - x0) / seen.shape[1], (y1 - y0) / seen.shape[0])
            inside = (max(0, x0), max(0, y0), min(width, x1), min(height, y1))
            for det in detections_from_raw(*raw, ratio, (height, width), list(classes),
                                           mask_threshold, offset=(x0, y0), clip=inside):
                if det.window.reaches(tile.core):
                    pieces.append(Piece(det.class_index, det.score, det.mask, det.origin,
                                        start + k))
            if blobs is not None and blob_map is not None:
                blob_map.paste(blobs, tile)
    found = [Detection(p.class_index, classes[p.class_index - 1], p.score,
                       p.window.tight_box(), p.mask, p.origin)
             for p in merge_pieces(pieces, [t.rect for t in tiles])]
    if blob_map is not None:
        if blob_map_seen is not None:
            blob_map_seen(blob_map)
        found += blob_map.detections(working, classes, threshold, mask_threshold)
    return sorted(found, key=lambda d: -d.score)


class BlobMap:
    """The blob probabilities of a whole frame at the model's scale, one channel per blob
    class, stitched from the tiles' cores (float16: 2 bytes a pixel and class, 120 MB for
    three classes on a 20-MP frame)."""

    def __init__(self, channels: int, width: int, height: int, scale: float):
        self.scale = scale
        self.probs = np.zeros((channels, max(1, round(height * scale)),
                               max(1, round(width * scale))), np.float16)

    def paste(self, probs: np.ndarray, tile: Tile) -> None:
        """A tile's probabilities (channels x its model pixels) where its core lies."""
        k = self.scale
        x0, y0 = round(tile.rect[0] * k), round(tile.rect[1] * k)
        cx0, cy0, cx1, cy1 = (round(v * k) for v in tile.core)
        # at a scale other than 1 the rounded core may pass the tile's last pixel by one
        cy1, cx1 = min(cy1, y0 + probs.shape[1]), min(cx1, x0 + probs.shape[2])
        self.probs[:, cy0:cy1, cx0:cx1] = probs[:, cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]

    def detections(self, working: WorkingScale, classes: Sequence[str], threshold: float,
                   mask_threshold: float) -> list[Detection]:
        """The blobs of the stitched map, in frame pixels (ml.infer.blobs)."""
        ratio = 1.0 / self.scale
        return blob_detections(self.probs, working.blob_labels(classes), classes,
                               (ratio, ratio), (0, 0), threshold,
                               working.blob_cutoffs(classes) if working.blob_thresholds
                               else mask_threshold,
                               working.blob_areas, working.blob_kinds(classes))


# what a model that runs no detector gives for a tile (a blob-only run)
NOTHING: RawOutput = (np.zeros((0, 4), np.float32), np.zeros(0, np.int64),
                      np.zeros(0, np.float32), np.zeros((0, 28, 28), np.float32))
