"""Blob classes: a map of class probabilities split into instances by connected components,
on tiles and across tile borders (the blob head that makes the map: tests/ml/model)."""

import numpy as np
import pytest
from shapely.geometry import LineString

from isegui.core.geometry import rasterize
from isegui.core.tiling import tile_grid
from isegui.core.working_scale import LINE, TILES, ShapeKind, WorkingScale
from isegui.ml.infer.blobs import blob_detections
from isegui.ml.infer.tiled import NOTHING, BlobMap, predict_frame
from tests.ml.frame_masks import iou, on_frame


def test_each_connected_region_of_a_class_is_one_instance():
    probs = np.zeros((2, 100, 120), np.float32)
    line = rasterize(LineString([(5, 10), (60, 40)]).buffer(1.5), 100, 120)
    line[:, 30:32] = False  # a gap of 2 px across the line: still one scratch
    probs[0][line] = 0.9
    probs[0][80:90, 10:20] = 0.8  # a second scratch-class region, far away
    probs[0][5:6, 100:102] = 0.95  # a 2-px speck: noise
    probs[1][70:80, 90:100] = 0.7  # a pit
    probs[1][40:45, 100:105] = 0.45  # below the mask threshold: nothing
    found = blob_detections(probs, [1, 3], ["scratch", "chip", "pit"], (1.0, 1.0), (200, 50))
    assert sorted(d.class_name for d in found) == ["pit", "scratch", "scratch"]
    pit = next(d for d in found if d.class_name == "pit")
    assert pit.class_index == 3 and pit.score == pytest.approx(0.7)
    assert pit.origin == (290, 120) and pit.mask.shape == (10, 10) and pit.mask.all()
    assert pit.box == (290.0, 120.0, 300.0, 130.0)
    big = max((d for d in found if d.class_name == "scratch"), key=lambda d: d.area)
    assert big.area == np.count_nonzero(line)  # the joined pieces, not the dilated reach
    # a threshold on the mean probability leaves the weaker region out
    assert len(blob_detections(probs, [1, 3], ["s", "c", "p"], (1, 1), threshold=0.75)) == 2


def test_blobs_outside_their_classs_labeled_areas_are_left_out():
    """Blob analysis's area filter, set from the labels: a speck of texture is not a pit, a
    tint over half the frame is not a stain."""
    probs = np.zeros((2, 200, 200), np.float32)
    probs[0][10:14, 10:14] = 0.9  # 16 px: a speck
    probs[0][50:60, 50:60] = 0.9  # 100 px: a pit
    probs[1][100:200, 0:200] = 0.9  # 20,000 px: a tint, not a stain
    probs[1][20:40, 120:150] = 0.9  # 600 px: a stain
    found = blob_detections(probs, [1, 2], ["pit", "stain"], (1.0, 1.0),
                            areas=[(25.0, 400.0), (250.0, 8000.0)])
    assert sorted((d.class_name, d.area) for d in found) == [("pit", 100), ("stain", 600)]
    assert len(blob_detections(probs, [1, 2], ["pit", "stain"], (1.0, 1.0))) == 4


def test_a_tile_at_half_scale_maps_its_blobs_back_to_frame_pixels():
    probs = np.zeros((1, 50, 50), np.float32)
    probs[0, 10:20, 5:15] = 1.0
    (det,) = blob_detections(probs, [1], ["pit"], (2.0, 2.0), (100, 0))
    assert det.origin == (110, 20) and det.mask.shape == (20, 20) and det.mask.all()


def blob_runner(tiles):
    """A perfect blob head for bright things: probability 1 on every bright pixel."""
    return [(NOTHING, (tile[None, :, :, 0] > 127).astype(np.float32)) for tile in tiles]


def test_a_scratch_across_three_tiles_is_one_blob_instance_with_its_mask():
    working = WorkingScale(TILES, 512, 1.0, blob_classes=("scratch",))
    width, height = 1152, 700
    assert len({x for x, *_ in tile_grid(width, height, working.window)}) == 3
    scratch = LineString([(30, 300), (600, 330), (1120, 280)]).buffer(1.5)
    image = np.zeros((height, width, 3), np.uint8)
    truth = rasterize(scratch, height, width)
    image[truth] = 255
    found = predict_frame(image, working, blob_runner, ["scratch"], batch_size=2)
    assert len(found) == 1
    assert iou(on_frame(found[0], height, width), truth) >= 0.99
    x0, y0, x1, y1 = found[0].box
    assert found[0].mask.shape == (round(y1 - y0), round(x1 - x0))  # box-local


def test_a_line_class_leaves_out_pieces_much_shorter_than_its_short_labels():
    """A bit of texture a few px long is no scratch when the labeled scratches are 60 px and
    longer; a piece half that long still counts (a scratch cut by the frame's edge)."""
    probs = np.zeros((1, 120, 200), np.float32)
    probs[0, 10:13, 10:22] = 0.9  # 12 px long
    probs[0, 40:43, 10:45] = 0.9  # 35 px
    probs[0, 80:83, 10:110] = 0.9  # 100 px
    kind = ShapeKind(LINE, 3.0, 60.0)
    found = blob_detections(probs, [1], ["scratch"], (1.0, 1.0), kinds=[kind])
    assert sorted(d.box[2] - d.box[0] for d in found) == [35, 100]
    # a run whose kinds carry no length keeps them all
    assert len(blob_detections(probs, [1], ["scratch"], (1.0, 1.0),
                              kinds=[ShapeKind(LINE, 3.0)])) == 3


def test_each_blob_class_is_cut_at_its_own_calibrated_threshold():
    probs = np.zeros((2, 60, 60), np.float32)
    probs[0, 10:20, 10:20] = 0.45  # a faint pit: found only where pits are cut below 0.45
    probs[1, 40:50, 40:50] = 0.45
    found = blob_detections(probs, [1, 2], ["pit", "stain"], (1.0, 1.0), threshold=0.0,
                            mask_threshold=[0.4, 0.5])
    assert [d.class_name for d in found] == ["pit"]
    working = WorkingScale(TILES, 64, 1.0, blob_classes=("pit", "stain"),
                           blob_thresholds=(0.6, 0.4))
    stitched = BlobMap(2, 60, 60, 1.0)
    stitched.probs[:] = probs
    assert [d.class_name for d in stitched.detections(working, ["pit", "stain"], 0.0, 0.5)] \
        == ["stain"]
