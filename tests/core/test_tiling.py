"""Tiles: the grid, training crops, cut instances, and merging the tiles' detections."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.affinity import translate
from shapely.geometry import LineString, Point, box

from isegui.core.geometry import rasterize
from isegui.core.tiling import (Piece, crop_shape, frame_tiles, merge_pieces, positions, suppress,
                                tile_grid,
                                window_around)
from isegui.core.working_scale import (MIN_OBJECT_PX, TILES, WHOLE, ObjectSizes, WorkingScale,
                                       choose_working_scale)


def test_the_grid_covers_the_frame_with_overlap_and_ends_at_its_edges():
    tiles = tile_grid(2448, 2048, 512)
    covered = np.zeros((2048, 2448), dtype=np.int32)
    for x0, y0, x1, y1 in tiles:
        assert x1 - x0 == 512 and y1 - y0 == 512
        covered[y0:y1, x0:x1] += 1
    assert covered.min() >= 1
    xs = sorted({t[0] for t in tiles})
    assert xs[0] == 0 and xs[-1] == 2448 - 512
    assert all(b - a <= 512 - 102 for a, b in zip(xs, xs[1:]))  # >= a fifth shared
    assert positions(300, 512, 128) == [0]  # a frame smaller than a tile: one, cut short
    assert tile_grid(300, 200, 512) == [(0, 0, 300, 200)]


def test_a_crop_around_an_object_holds_it_and_stays_in_the_frame():
    rng = np.random.default_rng(0)
    for _ in range(200):
        x0, y0 = window_around((900, 40, 960, 70), 256, 1000, 800, rng)
        assert 0 <= x0 <= 1000 - 256 and 0 <= y0 <= 800 - 256
        assert x0 <= 900 and x0 + 256 >= 960 and y0 <= 40 and y0 + 256 >= 70
    # larger than the crop: a part of it, still inside the frame
    x0, y0 = window_around((0, 0, 1000, 30), 256, 1000, 800, rng)
    assert 0 <= x0 <= 744 and y0 == 0


def test_an_instance_cut_by_a_crop_keeps_its_visible_part_or_is_a_sliver():
    pit = Point(100, 100).buffer(8)
    local, kept = crop_shape(pit, (60, 60), 128, 1.0)
    assert kept and local.symmetric_difference(translate(pit, -60, -60)).area < 1e-6
    corner, kept = crop_shape(pit, (103, 103), 128, 1.0)  # a corner of it: not a pit
    assert corner is not None and not kept
    assert crop_shape(pit, (300, 300), 128, 1.0) == (None, True)
    scratch = LineString([(0, 50), (600, 60)]).buffer(1.5)
    piece, kept = crop_shape(scratch, (0, 0), 256, 0.5)  # 256 frame px of 600: long enough
    assert kept and piece.bounds[2] == pytest.approx(128, abs=0.01)  # in model px


def _pieces_of(truth: np.ndarray, tiles, class_index=1, score=0.9):
    """What a perfect detector sees tile by tile: the object's part inside each tile."""
    pieces = []
    for k, (x0, y0, x1, y1) in enumerate(tiles):
        part = truth[y0:y1, x0:x1]
        if part.any():
            ys, xs = np.nonzero(part)
            window = part[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
            pieces.append(Piece(class_index, score - 0.01 * k, window.copy(),
                                (x0 + int(xs.min()), y0 + int(ys.min())), k))
    return pieces


def _on_frame(piece: Piece, height: int, width: int) -> np.ndarray:
    out = np.zeros((height, width), dtype=bool)
    x, y = piece.origin
    h, w = piece.mask.shape
    out[y:y + h, x:x + w] = piece.mask
    return out


def test_a_long_scratch_across_three_tiles_comes_out_as_one_instance_with_its_mask():
    width, height = 1152, 600
    tiles = tile_grid(width, height, 512)
    scratch = LineString([(30, 300), (600, 330), (1120, 280)]).buffer(1.6)
    truth = rasterize(scratch, height, width)
    crossed = [k for k, (x0, y0, x1, y1) in enumerate(tiles) if truth[y0:y1, x0:x1].any()]
    assert len({tiles[k][0] for k in crossed}) == 3  # three columns of tiles
    merged = merge_pieces(_pieces_of(truth, tiles), tiles)
    assert len(merged) == 1
    assert np.array_equal(_on_frame(merged[0], height, width), truth)
    assert merged[0].score == pytest.approx(0.9)


def test_touching_objects_of_one_class_seen_by_two_tiles_stay_two():
    width, height = 900, 512
    tiles = tile_grid(width, height, 512)
    a, b = box(400, 200, 450, 260), box(450, 200, 500, 260)  # touch at x = 450, in the overlap
    pieces = []
    for shape in (a, b):
        pieces += _pieces_of(rasterize(shape, height, width), tiles)
    merged = merge_pieces(pieces, tiles)
    assert len(merged) == 2
    areas = sorted(int(p.mask.sum()) for p in merged)
    assert areas == [3000, 3000]


def test_a_duplicate_of_another_class_is_not_joined_and_nms_keeps_the_best():
    mask = np.ones((20, 20), dtype=bool)
    tiles = [(0, 0, 512, 512), (300, 0, 812, 512)]
    pieces = [Piece(1, 0.9, mask, (350, 100), 0), Piece(2, 0.6, mask, (350, 100), 1),
              Piece(1, 0.7, mask, (352, 100), 1)]
    merged = merge_pieces(pieces, tiles)
    assert sorted(p.class_index for p in merged) == [1, 2]
    same = [Piece(1, 0.9, mask, (0, 0), 0), Piece(1, 0.8, mask, (2, 0), 0)]
    assert [p.score for p in suppress(same)] == [0.9]


def _sizes(widths, long_side):
    widths = np.asarray(widths, float)
    return ObjectSizes(widths, np.full(len(widths), float(long_side)), 1)


def test_the_working_scale_is_the_whole_image_for_parts_and_tiles_for_small_defects():
    parts = choose_working_scale(_sizes([20, 25, 30, 40] * 10, 512), 512)
    assert parts.mode == WHOLE and parts.size == 512 and "whole images" in parts.reason
    defects = choose_working_scale(_sizes([3, 4, 8, 12, 40] * 10, 2448), 512)
    assert defects.mode == TILES and defects.scale == 1.0 and defects.window == 512
    assert "tiles of 512 px at scale 1" in defects.reason and "camera" in defects.reason
    # objects 40 px wide in 4000-px frames: a half-scale tile keeps them >= 10 px
    medium = choose_working_scale(_sizes([40, 60] * 20, 4000), 512)
    assert medium.mode == TILES and medium.scale * 40 >= MIN_OBJECT_PX
    assert medium.scale < 1 and (medium.scale - 0.125) * 40 < MIN_OBJECT_PX
    assert medium.window == round(512 / medium.scale)
    asked = choose_working_scale(_sizes([20] * 5, 512), 512, tile=256, scale=0.5)
    assert (asked.mode, asked.size, asked.scale) == (TILES, 256, 0.5) and "as asked" in asked.reason
    assert choose_working_scale(_sizes([3] * 5, 3000), 512, tile=0).mode == WHOLE
    assert choose_working_scale(_sizes([], 512), 512).mode == WHOLE
    # small images whose objects are small even so: one tile would be the whole image
    assert choose_working_scale(_sizes([3] * 5, 400), 512).mode == WHOLE


def test_a_working_scale_round_trips_and_old_runs_are_whole_images():
    ws = WorkingScale(TILES, 512, 0.5, "why")
    assert WorkingScale.from_dict(ws.as_dict()) == ws
    assert WorkingScale.from_dict(None, 384) == WorkingScale(WHOLE, 384)
    with pytest.raises(ValueError):
        WorkingScale(TILES, 512, 0.0)


def test_on_tiles_lines_spots_and_apart_regions_are_pixel_classes_heaped_parts_the_detectors():
    from shapely.geometry import Point, box

    from isegui.core.working_scale import (LINE, REGION, SPOT, LabeledShapes, ShapeKind,
                                           pixel_classes, touching_classes)
    classes = ["scratch", "pit", "stain", "part", "pill", "unused"]
    crossing = ([1, 1, 2, 2, 3], [box(0, 0, 100, 3), box(48, -50, 51, 50),
                                  Point(300, 300).buffer(5), Point(309, 300).buffer(5),
                                  box(400, 400, 490, 430)])
    heap = ([4, 4, 5, 5], [Point(600, 600).buffer(50), Point(699, 600).buffer(50),
                           box(800, 800, 825, 810), box(824, 800, 849, 810)])
    assert touching_classes([crossing, heap], gap=5) == [1, 2, 4, 5]
    labeled = LabeledShapes(classes, [crossing, heap])
    # touching lines and small spots a pixel map tells apart; the stain never touches
    # another; the 100-px parts and the pills (regions, 2.5 times longer than wide) touch
    kinds = pixel_classes(labeled, 1.0)
    assert {name: k.kind for name, k in kinds.items()} == \
        {"scratch": LINE, "pit": SPOT, "stain": REGION}
    # sizes in model px: a line's width, a spot's diameter; a line's short ones' length
    assert kinds["scratch"].size == pytest.approx(3, abs=0.1)
    assert kinds["scratch"].length == pytest.approx(100, abs=1)
    assert kinds["pit"].size == pytest.approx(10, abs=0.05)
    assert pixel_classes(labeled, 0.5)["pit"].size == pytest.approx(5, abs=0.05)
    defects = choose_working_scale(_sizes([3, 4, 8, 12, 40] * 10, 2448), 512, labeled=labeled)
    assert defects.blob_classes == ("scratch", "pit", "stain")
    assert [k.kind for k in defects.blob_kinds(classes)] == [LINE, SPOT, REGION]
    # their area filters: a quarter of the smallest labeled area to four times the largest
    (scratch_low, scratch_high), (pit_low, pit_high), _ = defects.blob_areas
    assert scratch_low == pytest.approx(300 / 4) and scratch_high == pytest.approx(300 * 4)
    pit_area = Point(300, 300).buffer(5).area
    assert pit_low == pytest.approx(pit_area / 4) and pit_high == pytest.approx(pit_area * 4)
    assert "found pixel by pixel: scratch as lines; pit as spots; stain as regions" \
        in defects.reason
    assert WorkingScale.from_dict(defects.as_dict()) == defects
    assert defects.blob_cutoffs(classes) == [0.5, 0.5, 0.5]  # none calibrated yet
    calibrated = dataclasses.replace(defects, blob_thresholds=(0.3, 0.6, 0.4))
    assert WorkingScale.from_dict(calibrated.as_dict()) == calibrated
    assert calibrated.blob_cutoffs(["pit", "scratch"]) == [0.3, 0.6]
    # a run from before shape kinds: connected regions, as it was trained; from before line
    # lengths: kinds of two values
    old = {k: v for k, v in defects.as_dict().items()
           if k not in ("blob_shapes", "blob_thresholds")}
    assert WorkingScale.from_dict(old).blob_kinds(classes) == [ShapeKind()] * 3
    old["blob_shapes"] = [["line", 3.0], ["spot", 10.0], ["region", 0.0]]
    assert WorkingScale.from_dict(old).blob_kinds(classes)[0] == ShapeKind(LINE, 3.0)
    parts = choose_working_scale(_sizes([20, 25, 30, 40] * 10, 512), 512, labeled=labeled)
    assert parts.mode == WHOLE and parts.blob_classes == ()
    with pytest.raises(ValueError, match="tiles only"):
        WorkingScale(WHOLE, 512, blob_classes=("pit",))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3000), st.integers(1, 2500), st.sampled_from([64, 256, 512, 640]))
def test_tile_cores_split_the_frame_and_keep_half_an_overlap_from_every_tile_edge(
        width, height, window):
    tiles = frame_tiles(width, height, window)
    owners = np.zeros((height, width), np.uint8)
    margin = round(0.2 * window) // 2
    for tile in tiles:
        x0, y0, x1, y1 = tile.rect
        cx0, cy0, cx1, cy1 = tile.core
        owners[cy0:cy1, cx0:cx1] += 1
        assert x1 - x0 <= window and y1 - y0 <= window
        assert cx0 - x0 >= margin and x1 - cx1 >= margin
        assert cy0 - y0 >= margin and y1 - cy1 >= margin
    assert (owners == 1).all()  # every pixel decided by exactly one tile
