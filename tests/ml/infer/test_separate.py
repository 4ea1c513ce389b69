"""Touching and crossing objects of one class told apart in a pixel model's map
(ml.infer.separate through ml.infer.blobs): each case is a perfect map of labels painted in
order (the later on top, as a pixel map shows them), and every object must come out alone."""

import math

import cv2
import numpy as np
import pytest
from shapely.geometry import LineString, Point

from isegui.core.geometry import rasterize
from isegui.core.mask_window import MaskWindow
from isegui.core.working_scale import LINE, REGION, SPOT, ShapeKind
from isegui.ml.infer.blobs import blob_detections
from isegui.ml.infer.separate import split_lines, split_spots, thin

H, W = 300, 400
CLASSES = ["scratch", "pit", "stain"]
KINDS = [ShapeKind(LINE, 3.0), ShapeKind(SPOT, 14.0), ShapeKind(REGION, 60.0)]


def found_in(objects):
    """Detections from a perfect map of (class, shape) painted in order."""
    probs = np.zeros((len(CLASSES), H, W), np.float32)
    top = np.zeros((H, W), np.int32)
    for name, shape in objects:
        top[rasterize(shape, H, W)] = CLASSES.index(name) + 1
    for k in range(len(CLASSES)):
        probs[k][top == k + 1] = 0.9
    return blob_detections(probs, [1, 2, 3], CLASSES, (1.0, 1.0), kinds=KINDS)


def best_iou(found, name, shape):
    truth = rasterize(shape, H, W)
    ious = [(d.window.on((0, 0, W, H)) & truth).sum() / (d.window.on((0, 0, W, H)) | truth).sum()
            for d in found if d.class_name == name]
    return max(ious, default=0.0)


def test_two_scratches_crossing_are_two_instances():
    a = LineString([(20, 40), (380, 260)]).buffer(1.5)
    b = LineString([(30, 250), (370, 30)]).buffer(1.5)
    found = found_in([("scratch", a), ("scratch", b)])
    assert [d.class_name for d in found] == ["scratch", "scratch"]
    assert best_iou(found, "scratch", a) > 0.9 and best_iou(found, "scratch", b) > 0.9


@pytest.mark.parametrize("angle", [90, 45, 20, 15])
def test_crossing_lines_4_px_wide_split_down_to_15_degrees_apart(angle):
    a = LineString([(20, 150), (380, 150)]).buffer(2)
    dx, dy = 140 * math.cos(math.radians(angle)), 140 * math.sin(math.radians(angle))
    b = LineString([(200 - dx, 150 - dy), (200 + dx, 150 + dy)]).buffer(2)
    parts = split_lines(MaskWindow(rasterize(a, H, W) | rasterize(b, H, W), (0, 0)), 4)
    assert len(parts) == 2


def test_a_scratch_through_a_pit_gives_a_scratch_and_a_pit():
    pit = Point(200, 150).buffer(10)
    scratch = LineString([(40, 150), (360, 150)]).buffer(1.5)
    found = found_in([("pit", pit), ("scratch", scratch)])  # the scratch on top
    assert sorted(d.class_name for d in found) == ["pit", "scratch"]
    assert best_iou(found, "scratch", scratch) > 0.9  # joined across the pit
    assert best_iou(found, "pit", pit) > 0.9  # whole again under the scratch


def test_a_scratch_along_the_maps_edge_is_joined_across_a_pit_on_the_map():
    """A join drawn within half a line's width of the map's edge once reached past it, and
    reading the map there failed ('operands could not be broadcast', a suite run's
    validation)."""
    for x in (0.8, W - 1.2):
        scratch = LineString([(x, 20), (x, 280)]).buffer(1.2)
        pit = Point(x, 150).buffer(9)
        found = found_in([("scratch", scratch), ("pit", pit)])  # the pit on top
        assert sorted(d.class_name for d in found) == ["pit", "scratch"]
        assert best_iou(found, "scratch", scratch) > 0.8
        assert all(0 <= d.box[0] and d.box[2] <= W for d in found)


def test_a_cluster_of_four_touching_pits_gives_four_pits():
    pits = [Point(x, y).buffer(r) for x, y, r in
            [(100, 100, 7), (112, 100, 6), (100, 113, 8), (114, 114, 5)]]
    found = found_in([("pit", p) for p in pits])
    assert [d.class_name for d in found] == ["pit"] * 4
    assert all(best_iou(found, "pit", p) > 0.85 for p in pits)


def test_a_stain_round_a_pit_gives_a_stain_and_a_pit():
    stain, pit = Point(200, 150).buffer(45), Point(195, 155).buffer(8)
    found = found_in([("stain", stain), ("pit", pit)])
    assert sorted(d.class_name for d in found) == ["pit", "stain"]
    assert best_iou(found, "stain", stain) > 0.95  # the pit's hole is the stain's too


def test_one_curved_line_and_one_spot_stay_whole():
    line = LineString([(10, 10), (150, 60), (300, 40)]).buffer(2)
    assert len(split_lines(MaskWindow(rasterize(line, H, W), (0, 0)), 4)) == 1
    spot = MaskWindow.trimmed(rasterize(Point(50, 50).buffer(12), H, W))
    assert len(split_spots(spot, 14)) == 1


def test_thinning_leaves_a_one_pixel_line():
    line = rasterize(LineString([(10, 10), (200, 120)]).buffer(3), H, W)
    skeleton = thin(line)
    assert skeleton.any() and (skeleton <= line).all()
    assert skeleton.sum() < line.sum() / 4  # about its length, not its area


def test_a_flooded_map_is_separated_in_bounded_memory():
    """A model early in training may call half a frame one spot class, or strew a line class
    over a texture: the separation must not hold pixels x peaks or ends x ends at once (a
    2048 x 2448 map of such a flood once took a 24-GB machine down)."""
    import tracemalloc

    from isegui.ml.infer.separate import join_lines
    flood = np.ones((1500, 1500), bool)
    flood[::9, ::9] = False  # holes: a distance peak between every four of them
    lines = [MaskWindow(np.ones((2, 6), bool), (x, y))
             for y in range(0, 3000, 50) for x in range(0, 4000, 50)]  # 4,800 line pieces
    tracemalloc.start()
    try:
        assert len(split_spots(MaskWindow(flood, (0, 0)), 10.0)) == 1  # a flood: left whole
        assert len(join_lines(lines, 2.0, np.zeros((1, 1), bool))) == len(lines)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 600 * 2 ** 20


def test_joining_in_chunks_gives_what_joining_at_once_gives(monkeypatch):
    import isegui.ml.infer.separate as separate
    scratch = [("scratch", LineString([(20, 150), (380, 150)]).buffer(1.5)),
               ("pit", Point(200, 150).buffer(7))]
    joined = found_in(scratch)
    monkeypatch.setattr(separate, "PAIRWISE_CELLS", 3)
    joined_in_chunks = found_in(scratch)
    assert sorted(d.class_name for d in joined) == ["pit", "scratch"]
    assert [(d.class_name, d.area) for d in joined] == \
        [(d.class_name, d.area) for d in joined_in_chunks]


def test_each_spot_pixel_goes_to_the_disc_it_lies_deepest_in():
    """The owner weighed near each disc only equals the owner weighed against every disc,
    for a row of touching discs of unequal size and a bar whose ends lie far from its
    centre."""
    from isegui.ml.infer.separate import _deepest_disc_owner
    mask = np.zeros((80, 260), bool)
    for k, r in enumerate((12, 6, 14, 9, 12, 7, 13, 10)):
        mask |= rasterize(Point(15 + 30 * k, 40).buffer(r), 80, 260)
    distance = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 5)
    distance = distance[1:-1, 1:-1]
    centres = np.array([[40, 15 + 30 * k] for k in range(8)], np.float32)
    radii = np.array([distance[int(r), int(c)] for r, c in centres], np.float32)
    rows, cols = np.nonzero(mask)
    depth = np.hypot(rows[:, None] - centres[None, :, 0], cols[:, None] - centres[None, :, 1])
    everywhere = np.zeros(mask.shape, np.int32)
    everywhere[rows, cols] = (depth / radii[None, :]).argmin(axis=1) + 1
    assert (_deepest_disc_owner(mask, centres, radii) == everywhere).all()
    bar = np.zeros((20, 200), bool)
    bar[5:15, :] = True  # one disc of radius 5 in its middle: the ends are 20 radii away
    owner = _deepest_disc_owner(bar, np.array([[10, 100]], np.float32),
                                np.array([5], np.float32))
    assert (owner[bar] == 1).all() and (owner[~bar] == 0).all()


def dashed_map(faint: float) -> np.ndarray:
    """A scratch the map shows in dashes: 30 px sure (0.9), then 12 px at `faint`."""
    probs = np.zeros((len(CLASSES), H, W), np.float32)
    line = rasterize(LineString([(20, 60), (380, 240)]).buffer(1.5), H, W)
    along = np.zeros((H, W), np.float32)
    along[np.nonzero(line)] = np.nonzero(line)[1]  # distance along it: its x
    probs[0][line] = np.where((along[line] - 20) % 42 < 30, 0.9, faint)
    return probs


def test_a_scratch_the_map_shows_in_dashes_is_one_scratch():
    found = blob_detections(dashed_map(0.3), [1, 2, 3], CLASSES, (1.0, 1.0), kinds=KINDS)
    assert [d.class_name for d in found] == ["scratch"]
    assert found[0].box[0] <= 21 and found[0].box[2] >= 379  # the whole length


def test_dashes_with_nothing_between_them_stay_apart():
    """Where the map sees nothing between two pieces, and no other object covers the gap,
    they are two (a line never joins what the map does not show)."""
    found = blob_detections(dashed_map(0.0), [1, 2, 3], CLASSES, (1.0, 1.0), kinds=KINDS)
    assert len(found) > 1 and all(d.class_name == "scratch" for d in found)
