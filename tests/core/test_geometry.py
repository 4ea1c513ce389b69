import numpy as np
import pytest
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pycocotools import mask as coco_mask
from shapely.geometry import MultiPolygon, Polygon, box

from isegui.core.errors import ShapeError
from isegui.core.geometry import (bounds_window, has_holes, invalidity, polygon_from_points,
                                  rasterize, repair, simplify, vectorize)


@st.composite
def masks(draw):
    """Random masks built from filled and cut-out rectangles: holes, touching parts, corner
    contacts, single pixels and lines."""
    h = draw(st.integers(1, 24))
    w = draw(st.integers(1, 24))
    m = np.zeros((h, w), dtype=bool)
    for _ in range(draw(st.integers(0, 8))):
        y0, x0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        y1, x1 = draw(st.integers(y0 + 1, h)), draw(st.integers(x0 + 1, w))
        m[y0:y1, x0:x1] = draw(st.booleans())
    if draw(st.booleans()):  # salt: isolated pixels and diagonal contacts
        seed = draw(st.integers(0, 2**31))
        m ^= np.random.default_rng(seed).random((h, w)) < 0.15
    return m


@settings(max_examples=400, deadline=None)
@given(masks())
def test_vectorize_then_rasterize_is_identity(mask):
    shape = vectorize(mask)
    assert shape.is_empty or shape.is_valid
    assert (rasterize(shape, *mask.shape) == mask).all()
    assert shape.area == pytest.approx(mask.sum())  # pixel-edge polygons: area = pixel count


@settings(max_examples=100, deadline=None)
@given(masks(), st.integers(0, 7), st.integers(0, 7))
def test_vectorize_with_origin_places_the_window(mask, ox, oy):
    shape = vectorize(mask, origin=(ox, oy))
    h, w = mask.shape
    full = rasterize(shape, h + oy + 2, w + ox + 2)
    assert full.sum() == mask.sum()
    assert (full[oy:oy + h, ox:ox + w] == mask).all()


def test_rings_with_holes_and_corner_contacts():
    mask = np.zeros((9, 9), dtype=bool)
    mask[1:8, 1:8] = True
    mask[3:6, 3:6] = False  # a hole
    mask[4, 4] = True  # an island in the hole
    mask[0, 0] = True  # touches the big part only at a corner
    shape = vectorize(mask)
    assert isinstance(shape, MultiPolygon) and len(shape.geoms) == 3
    assert has_holes(shape)
    assert (rasterize(shape, 9, 9) == mask).all()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 40), st.floats(0, 30)), min_size=3, max_size=9))
@example([(0.0, 1.0), (0.0, 2.3), (1.0, 5.0)])  # 2.3 - 1 rounds down: a pixel went missing
def test_rasterize_matches_coco_annToMask_for_any_polygon(points):
    polygon = Polygon(points)
    if not polygon.is_valid or polygon.area < 1e-3:
        return
    ref = coco_mask.decode(coco_mask.frPyObjects([np.ravel(points).tolist()], 30, 40))[:, :, 0]
    assert (rasterize(polygon, 30, 40) == ref.astype(bool)).all()
    # any window agrees with the full image
    x0, y0, x1, y1 = bounds_window(polygon, 30, 40)
    window = rasterize(polygon, y1 - y0, x1 - x0, origin=(x0, y0))
    assert (window == ref[y0:y1, x0:x1].astype(bool)).all()
    assert window.sum() == ref.sum()


def test_rasterize_cuts_holes_and_clips_at_the_image_edge():
    shape = box(-5, -5, 10, 10).difference(box(2, 2, 4, 4))
    m = rasterize(shape, 8, 8)
    assert m[:8, :8].sum() == 64 - 4
    assert not m[2:4, 2:4].any()


def test_repair_reports_a_self_intersection():
    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    fixed = repair(bowtie)
    assert fixed.shape.is_valid and fixed.shape.area == pytest.approx(50)
    assert fixed.note == "the outline crosses itself near (5, 5); it was split into 2 parts"
    assert repair(box(0, 0, 1, 1)).note is None


@pytest.mark.parametrize("geometry, words", [
    (Polygon([(113.96, 94.11), (200, 94.11), (113.96, 150), (200, 150)]),
     "the outline crosses itself near (157, 122)"),
    (Polygon([(0, 0), (10, 0), (10, 10), (5, 0), (0, 10)]),
     "the outline touches itself near (5, 0)"),
    (Polygon(box(0, 0, 10, 10).exterior, [[(20, 20), (25, 20), (25, 25)]]),
     "a hole lies outside the outline near (20, 20)"),
    (MultiPolygon([box(0, 0, 10, 10), box(5, 5, 15, 15)]),
     "two of its parts overlap near (5, 10)"),
])
def test_repair_says_what_was_wrong_in_words_and_where(geometry, words):
    assert invalidity(geometry) == words
    note = repair(geometry).note
    assert note.startswith(words + "; ") and "[" not in note and "Self-intersection" not in note


@pytest.mark.parametrize("points", [
    [(0, 0), (1, 1)],  # too few points
    [(0, 0), (1, 1), (2, 2)],  # collinear: no area
    [(0, 0), (0, 0), (0, 0), (0, 0)],
])
def test_degenerate_polygons_are_refused(points):
    with pytest.raises(ShapeError):
        polygon_from_points(points)


def test_not_a_number_is_refused():
    with pytest.raises(ShapeError, match="finite"):
        polygon_from_points([(0, 0), (float("nan"), 1), (2, 0)])


def test_simplify_is_explicit_and_keeps_topology():
    mask = np.zeros((60, 60), dtype=bool)
    yy, xx = np.mgrid[:60, :60]
    mask[(yy - 30) ** 2 + (xx - 30) ** 2 < 25 ** 2] = True
    mask[(yy - 30) ** 2 + (xx - 30) ** 2 < 8 ** 2] = False
    traced = vectorize(mask)
    smooth = simplify(traced, 1.0)
    assert shapely.get_num_coordinates(smooth) < shapely.get_num_coordinates(traced) / 2
    assert has_holes(smooth) and smooth.is_valid
    assert abs(smooth.area - traced.area) < 0.05 * traced.area
    assert simplify(traced, 0) is traced


def test_a_tangled_outline_is_repaired_without_hanging():
    """A label file's polygon of 600 random points crosses itself ~90,000 times: GEOS's
    make_valid by linework took minutes (17 s at 300 points). By structure: the area inside,
    at once."""
    import threading

    import numpy as np
    from shapely.geometry import Polygon

    from isegui.core.geometry import repair
    tangled = Polygon(np.random.default_rng(0).uniform(0, 1000, (600, 2)))
    done: list = []
    worker = threading.Thread(target=lambda: done.append(repair(tangled)), daemon=True)
    worker.start()
    worker.join(60)  # a hang, not a timing: it took minutes
    assert done and done[0].shape.is_valid and done[0].shape.area > 0


def test_crossings_counts_where_edges_meet_and_stops_past_the_bound():
    from isegui.core.geometry import crossings
    assert crossings(box(0, 0, 10, 10), stop_after=100) == 0
    assert crossings(Polygon([(0, 0), (10, 10), (10, 0), (0, 10)]), stop_after=100) == 1
    petals = [p for k in range(50) for p in ((0, 0), (10, k), (10, k + 0.5))]  # touch at 0, 0
    # the 100 edges at the centre meet pairwise, but for the 50 pairs that follow each other
    assert crossings(Polygon(petals), stop_after=10_000) == 100 * 99 // 2 - 50
    tangle = Polygon(np.random.default_rng(0).uniform(0, 500, (2000, 2)))
    assert 100 < crossings(tangle, stop_after=100) < 460_000  # counted in batches: stopped


@pytest.mark.parametrize("mask", [
    np.indices((6, 7)).sum(axis=0) % 2 == 1,  # a checkerboard: pixels meeting at corners
    np.pad(np.pad(np.zeros((2, 3), bool), 1, constant_values=True), 2),  # a frame: a hole
    np.eye(4, dtype=bool) | np.eye(4, dtype=bool)[::-1],  # an X
])
def test_traced_vertices_is_what_vectorize_gives(mask):
    from isegui.core.geometry import traced_vertices
    shape = vectorize(mask)
    rings = len(shapely.get_rings(shapely.get_parts(shape)))
    assert traced_vertices(mask) == shapely.get_num_coordinates(shape) - rings  # less closings
