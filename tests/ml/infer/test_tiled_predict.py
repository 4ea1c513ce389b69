"""Prediction on tiles: tiles mapped back to the frame and merged into one instance per
object, with the torch model and with a detector that sees what each tile shows."""

import cv2
import numpy as np
import pytest
import torch
from shapely.geometry import LineString, Point

from isegui.core.geometry import rasterize
from isegui.core.working_scale import TILES, WorkingScale
from isegui.core.tiling import tile_grid
from isegui.ml.model.registry import build_model
from isegui.ml.model.torch_predictor import Predictor
from isegui.ml.infer.tiled import NOTHING, predict_frame

from tests.ml.frame_masks import iou, on_frame


def threshold_detector(tiles):
    """A detector of bright things: each connected bright region of a tile is an object of
    class 1, its box and a mask on a fine grid (so pasting loses nothing) — what a perfect
    model would return for that tile, in the tile's pixels."""
    out = []
    for tile in tiles:
        bright = (tile[:, :, 0] > 127).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=8)
        boxes, probs = [], []
        for k in range(1, n):
            x, y, w, h = stats[k, :4]
            m = 1024
            window = (labels[y:y + h, x:x + w] == k).astype(np.float32)
            probs.append(cv2.resize(window, (m, m), interpolation=cv2.INTER_NEAREST))
            boxes.append([x, y, x + w, y + h])
        count = len(boxes)
        raw = (np.asarray(boxes, np.float32).reshape(-1, 4), np.ones(count, np.int64),
               np.linspace(0.9, 0.8, count).astype(np.float32),
               np.asarray(probs, np.float32).reshape(-1, 1024, 1024))
        out.append((raw, None))  # no blob head
    return out


def _frame(shapes, width, height):
    image = np.zeros((height, width, 3), np.uint8)
    truth = []
    for shape in shapes:
        mask = rasterize(shape, height, width)
        image[mask] = 255
        truth.append(mask)
    return image, truth


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_a_scratch_across_three_tiles_and_a_pit_come_out_as_two_instances(scale):
    working = WorkingScale(TILES, 512 if scale == 1 else 256, scale)
    width, height = 1152, 700
    assert len({x for x, *_ in tile_grid(width, height, working.window)}) == 3
    scratch = LineString([(30, 300), (600, 330), (1120, 280)]).buffer(2.0)
    pit = Point(520, 600).buffer(7)
    image, (scratch_mask, pit_mask) = _frame([scratch, pit], width, height)
    found = predict_frame(image, working, threshold_detector, ["defect"], batch_size=3)
    assert len(found) == 2
    masks = sorted((on_frame(d, height, width) for d in found), key=lambda m: -m.sum())
    # at half scale the 4-px scratch is 2 px wide in the tiles: its edges are approximate
    least = 0.97 if scale == 1 else 0.75
    assert iou(masks[0], scratch_mask) >= least and iou(masks[1], pit_mask) >= least
    for det in found:  # box-local: each mask's window is its box
        x0, y0, x1, y1 = det.box
        assert det.mask.shape == (round(y1 - y0), round(x1 - x0))
        assert det.origin == (round(x0), round(y0))


@pytest.mark.slow
def test_the_torch_predictor_runs_on_tiles_of_a_frame_larger_than_a_tile():
    torch.manual_seed(0)
    model = build_model("fast", num_classes=2, size=256)
    working = WorkingScale(TILES, 256, 1.0)
    # untrained: scores about 1/3, mask probabilities about 0.5; take everything
    predictor = Predictor(model, ["a", "b"], torch.device("cpu"), threshold=0.0,
                          mask_threshold=0.0, working=working)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (600, 900, 3), dtype=np.uint8)
    (found,) = predictor.predict([image])
    assert found
    for det in found:
        x0, y0, x1, y1 = det.box
        assert 0 <= x0 < x1 <= 900 and 0 <= y0 < y1 <= 600
        h, w = det.mask.shape
        assert det.origin[0] + w <= 900 and det.origin[1] + h <= 600
    with pytest.raises(ValueError):
        predictor.set_input_size(512)


def edge_firing_model(size):
    """A model with the seam signature of a weak run (a 512-px tile: strips 12-40 px inside its
    right and bottom edges), scaled to tiles of `size`: on every tile, whatever it shows, a
    'scratch' strip inside its right edge (from the detector and from the blob head) and a
    'stain' band above its bottom edge (blob head), both within the outer half of the tiles'
    overlap (0.1 of a tile)."""
    near, far = round(size * 12 / 512), round(size * 40 / 512)

    def run(tiles):
        out = []
        for tile in tiles:
            h, w = tile.shape[:2]
            probs = np.zeros((2, h, w), np.float32)
            probs[0, 20:h - far, w - far:w - near] = 0.9
            probs[1, h - far:h - near, 20:w - far] = 0.8
            raw = (np.array([[w - far, 20, w - near, h - far]], np.float32),
                   np.ones(1, np.int64), np.array([0.95], np.float32),
                   np.ones((1, 28, 28), np.float32))
            out.append((raw, probs))
        return out
    return run


@pytest.mark.parametrize("width, height, size", [(2448, 2048, 512), (1000, 700, 256),
                                                 (900, 300, 512), (300, 200, 512)])
def test_a_plain_frame_has_no_detections_whatever_the_model_does_at_tile_edges(width, height,
                                                                                size):
    """No seam signature: what a tile does within half an overlap of its edge is decided by
    the neighbour that sees it in its core, and the frame's own edges lie inside tiles."""
    working = WorkingScale(TILES, size, 1.0, blob_classes=("scratch", "stain"))
    image = np.full((height, width, 3), 128, np.uint8)
    found = predict_frame(image, working, edge_firing_model(size), ["scratch", "stain"], 4)
    assert found == []


def test_the_blob_map_is_stitched_from_the_cores_at_half_scale():
    """Tiles at scale 0.5: a bright disc seen by four tiles is one blob, back at frame pixels."""
    working = WorkingScale(TILES, 128, 0.5, blob_classes=("pit",))
    image, (truth,) = _frame([Point(300, 250).buffer(40)], 700, 500)

    def blob_runner(tiles):
        return [(NOTHING, (t[None, :, :, 0] > 127).astype(np.float32)) for t in tiles]

    (found,) = predict_frame(image, working, blob_runner, ["pit"])
    assert found.class_name == "pit" and iou(on_frame(found, 500, 700), truth) > 0.9
