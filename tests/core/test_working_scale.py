"""The working-scale rule on hand-made shapes: object widths, and the input size that keeps the
narrow objects findable."""

import math

import pytest
from shapely import affinity
from shapely.geometry import LineString, MultiPolygon, Point, box

from isegui.core.entities import ImageRecord, ImageStatus, Instance, Split
from isegui.core.working_scale import (MIN_OBJECT_PX, SIZE_STEP, advise_size, measure_objects,
                                       object_width, required_scale)


def image(k, width=1000, height=500, split=Split.TRAIN, status=ImageStatus.LABELED):
    return ImageRecord(k, f"img{k}.png", width, height, split, status)


def objects(image_id, shapes, crowd=False):
    return [Instance(image_id, n + 1, 1, s, crowd=crowd) for n, s in enumerate(shapes)]


def scratches(n, width, x0=0):
    """n thin horizontal bars `width` px high and 60 px long."""
    return [box(x0 + 70 * k % 900, 10 + 20 * (k // 12), x0 + 70 * k % 900 + 60, 10 + 20 *
                (k // 12) + width) for k in range(n)]


def test_width_is_the_short_side_of_the_minimum_rotated_rectangle():
    assert object_width(box(0, 0, 40, 3)) == pytest.approx(3)
    turned = affinity.rotate(box(0, 0, 40, 3), 30, origin="centroid")
    assert object_width(turned) == pytest.approx(3)  # not its 20-px-high bounding box
    assert object_width(Point(50, 50).buffer(5, 32)) == pytest.approx(10, abs=0.1)
    assert object_width(LineString([(0, 0), (10, 10)])) == 0
    assert object_width(MultiPolygon([box(0, 0, 4, 4), box(0, 10, 4, 14)])) == pytest.approx(4)


def test_only_objects_training_sees_are_measured():
    items = [
        (image(1), objects(1, [box(0, 0, 30, 20)])),
        (image(2, status=ImageStatus.UNLABELED), objects(2, [box(0, 0, 2, 2)])),
        (image(3, split=Split.TEST), objects(3, [box(0, 0, 2, 2)])),
        (image(4, 400, 800, split=Split.VAL), objects(4, [box(0, 0, 8, 50)])),
        (image(5), objects(5, [box(0, 0, 1, 1)], crowd=True)),  # a region to ignore
        (image(6), []),
    ]
    sizes = measure_objects(items)
    assert sorted(sizes.widths.tolist()) == [8, 20]
    assert sorted(sizes.long_sides.tolist()) == [800, 1000]
    assert sizes.images == 2 and len(sizes) == 2


def test_a_size_that_shrinks_narrow_objects_below_the_limit_and_the_size_that_keeps_them():
    # 40 scratches 20 px wide in 1000-px images, and one stray 2-px slip of the mouse
    items = [(image(1), objects(1, scratches(40, 20) + [box(900, 400, 960, 402)]))]
    advice = advise_size(measure_objects(items), 256)
    assert advice.smallest_px == pytest.approx(20 * 256 / 1000)  # the stray does not decide
    assert advice.minimum_px == pytest.approx(2 * 256 / 1000)  # but is reported
    assert advice.too_small and not advice.native_too_small
    assert advice.keeping_size == 512  # 10 px / (20 / 1000) = 500, up to a multiple of 32
    assert advice.keeping_size % SIZE_STEP == 0
    assert not advice.needs_full_resolution
    kept = advise_size(measure_objects(items), advice.keeping_size)
    below = advise_size(measure_objects(items), advice.keeping_size - SIZE_STEP)
    assert kept.smallest_px >= MIN_OBJECT_PX > below.smallest_px
    assert not kept.too_small


def test_images_of_different_sizes_count_each_object_at_its_own_scale():
    # the same 20-px objects in a 2000-px image become half as wide at a given input size
    items = [(image(1, 500, 400), objects(1, scratches(20, 20))),
             (image(2, 2000, 1500), objects(2, scratches(20, 20)))]
    advice = advise_size(measure_objects(items), 512)
    assert advice.smallest_px == pytest.approx(20 * 512 / 2000)
    assert advice.largest_long_side == 2000


def test_objects_narrower_than_the_limit_in_camera_pixels_need_full_resolution():
    items = [(image(1), objects(1, scratches(30, 3)))]  # 3-px scratches
    advice = advise_size(measure_objects(items), 1024)
    assert advice.too_small and advice.native_too_small and advice.needs_full_resolution
    assert advice.native_smallest_px == pytest.approx(3)
    assert required_scale(measure_objects(items).widths) == pytest.approx(10 / 3)


def test_large_frames_with_small_objects_need_a_size_beyond_the_limit_or_tiles():
    items = [(image(1, 8000, 6000), objects(1, scratches(30, 12)))]
    advice = advise_size(measure_objects(items), 1024)
    assert advice.too_small and not advice.native_too_small
    assert advice.keeping_size == math.ceil(10 * 8000 / 12 / 32) * 32  # 6688: tiles then
    assert required_scale(measure_objects(items).widths) == pytest.approx(10 / 12)


def test_nothing_to_measure():
    assert advise_size(measure_objects([(image(1), [])]), 512) is None
