"""Box-local mask windows: pasting, trimming, IoU, union and mirroring agree with the same
operations on whole-image arrays (hypothesis draws the windows)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from isegui.core.mask_window import MaskWindow, enclosing, intersect

H, W = 40, 50


@st.composite
def windows(draw) -> MaskWindow:
    """A random window that may reach past the image's edges."""
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    x, y = draw(st.integers(-4, W - 2)), draw(st.integers(-4, H - 2))
    bits = draw(st.lists(st.booleans(), min_size=h * w, max_size=h * w))
    return MaskWindow(np.array(bits, bool).reshape(h, w), (x, y))


def full(window: MaskWindow) -> np.ndarray:
    """The window on a canvas large enough for every drawn window, offset by 10 px."""
    return window.on((-10, -10, W + 20, H + 20))


@settings(max_examples=200, deadline=None)
@given(windows(), windows())
def test_iou_is_the_whole_image_iou(a, b):
    fa, fb = full(a), full(b)
    union = np.count_nonzero(fa | fb)
    expected = np.count_nonzero(fa & fb) / union if union else 0.0
    assert a.iou(b) == expected == b.iou(a)


@settings(max_examples=200, deadline=None)
@given(windows(), windows())
def test_union_holds_exactly_the_pixels_of_both(a, b):
    joined = MaskWindow.union([a, b])
    assert np.array_equal(full(joined), full(a) | full(b))
    assert joined.rect == enclosing([a.rect, b.rect])


@settings(max_examples=200, deadline=None)
@given(windows())
def test_trimmed_keeps_the_pixels_and_cuts_the_empty_border(a):
    cut = MaskWindow.trimmed(a.mask, a.origin)
    if not a.mask.any():
        assert cut is None
        return
    assert np.array_equal(full(cut), full(a))
    assert cut.mask[0].any() and cut.mask[-1].any() and cut.mask[:, 0].any() \
        and cut.mask[:, -1].any()
    assert cut.tight_box() == a.tight_box() == tuple(float(v) for v in cut.rect)


@settings(max_examples=100, deadline=None)
@given(windows(), st.integers(-6, W + 6), st.integers(-6, H + 6))
def test_covers_reads_the_pixel_under_a_point(a, x, y):
    canvas = full(a)
    assert a.covers((x + 0.7, y + 0.2)) == bool(canvas[y + 10, x + 10])


@settings(max_examples=100, deadline=None)
@given(windows())
def test_mirrored_is_the_window_of_the_mirror_image(a):
    image = a.on((0, 0, W, H))
    mirror = a.mirrored(W).on((0, 0, W, H))
    assert np.array_equal(mirror, image[:, ::-1])


def test_rectangles_meet_or_not():
    assert intersect((0, 0, 10, 10), (5, 5, 20, 20)) == (5, 5, 10, 10)
    assert intersect((0, 0, 10, 10), (10, 0, 20, 10)) is None  # sharing an edge only


def test_a_point_left_of_or_above_the_image_is_in_the_pixel_it_falls_in():
    mask = np.zeros((3, 3), bool)
    mask[2] = True  # image row 0 of a window starting at row -2
    window = MaskWindow(mask, (0, -2))
    assert window.covers((1.5, 0.2)) and not window.covers((1.5, -0.8))  # -0.8 is row -1


@settings(max_examples=100, deadline=None)
@given(windows(), st.integers(-6, W), st.integers(-6, H), st.integers(1, 20), st.integers(1, 20))
def test_reaches_is_any_pixel_in_the_rectangle(a, x, y, w, h):
    rect = (x, y, x + w, y + h)
    assert a.reaches(rect) == bool(a.on(rect).any())
