"""What the click model sees: windows that follow the object, click disks, and the answer
brought back to image pixels (core.click_view)."""

import cv2
import numpy as np
import pytest

from isegui.core.click_view import (CLICK_RADIUS, EXPAND, VIEW_SIDE, ClickView, click_maps,
                                    grown, mask_from_view, runs_into_border, view_around,
                                    view_for, view_mask, view_pixels)
from isegui.core.mask_window import MaskWindow

H, W = 300, 400


def _disc(cx, cy, r):
    mask = np.zeros((H, W), np.uint8)
    cv2.circle(mask, (cx, cy), r, 1, -1)
    return MaskWindow.trimmed(mask > 0)


def test_a_window_is_square_round_the_box_and_never_smaller_than_the_least_side():
    view = view_around((100, 50, 140, 70))
    assert view.side == pytest.approx(40 * EXPAND, abs=1)
    x0, y0, x1, y1 = view.rect
    assert (x0 + x1) / 2 == pytest.approx(120, abs=1) and (y0 + y1) / 2 == pytest.approx(60, abs=1)
    speck = view_around((10, 10, 11, 11))
    assert speck.side == 16 and speck.scale == VIEW_SIDE / 16


@pytest.mark.parametrize("radius", [5, 30, 120])  # magnified, about 1:1, shrunk
def test_a_mask_seen_through_a_window_comes_back_the_same(radius):
    truth = _disc(200, 150, radius)
    view = view_around(truth.tight_box())
    seen = view_mask(truth, view)
    assert seen.shape == (VIEW_SIDE, VIEW_SIDE)
    back = mask_from_view(seen, view, W, H)
    assert back.iou(truth) > 0.93


def test_a_window_past_the_image_edge_is_black_there_and_its_answer_stays_on_the_image():
    image = np.full((H, W, 3), 200, np.uint8)
    view = ClickView(-50, -50, 100)
    pixels = view_pixels(image, view)
    assert pixels.shape == (VIEW_SIDE, VIEW_SIDE, 3)
    assert pixels[:VIEW_SIDE // 2 - 2, :VIEW_SIDE // 2 - 2].max() == 0
    assert pixels[VIEW_SIDE // 2 + 2:, VIEW_SIDE // 2 + 2:].min() == 200
    answer = mask_from_view(np.ones((VIEW_SIDE, VIEW_SIDE), np.float32), view, W, H)
    assert answer.rect == (0, 0, 50, 50)


def test_clicks_are_disks_in_their_own_map_and_clicks_outside_are_left_out():
    view = ClickView(100, 100, 80)
    maps = click_maps([((140, 140), True), ((110, 150), False), ((900, 900), True)], view)
    assert maps.shape == (2, VIEW_SIDE, VIEW_SIDE)
    centre = round(40 * view.scale)
    assert maps[0, centre, centre] == 1 and maps[1, centre, centre] == 0
    assert 0.8 * np.pi * CLICK_RADIUS ** 2 < maps[0].sum() < 1.5 * np.pi * CLICK_RADIUS ** 2
    assert maps[1, round(50 * view.scale), round(10 * view.scale)] == 1


def test_the_first_window_has_the_usual_objects_size_then_follows_the_candidate():
    first = view_for([((200, 150), True)], None, first_side=60)
    assert first.side == 60 and first.rect[0] == 170
    candidate = _disc(200, 150, 40)
    later = view_for([((200, 150), True), ((260, 150), True)], candidate, first_side=60)
    x0, y0, x1, y1 = later.rect
    assert x0 < 160 and x1 > 261 and later.side == pytest.approx(100 * EXPAND, abs=2)


def test_an_answer_that_runs_into_the_windows_edge_inside_the_image_is_cut():
    view = ClickView(100, 100, 80)
    inside = _disc(140, 140, 10)
    assert not runs_into_border(inside, view, W, H)
    assert runs_into_border(_disc(140, 140, 45), view, W, H)
    at_corner = ClickView(-20, -20, 80)  # its top and left lie past the image: not a cut
    assert not runs_into_border(MaskWindow(np.ones((30, 30), bool), (0, 0)), at_corner, W, H)
    wider = grown(view)
    assert wider.side > view.side and wider.rect[0] < view.rect[0]
