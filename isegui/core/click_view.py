"""What a click-segmentation model looks at: a square window of the image around the clicks
(and the current mask), resized to a fixed side, with the clicks drawn as disks and the
current mask as a third map; and the way back from its answer to an image-pixel mask window.

The window follows the object, not the frame (the "zoom-in" of RITM): a 12-px pit on a 20-MP
frame is seen magnified, a 900-px part shrunk, both at the same model size, so one model serves
defects and parts and a click costs the same on any frame. Training and the click tool both
use these functions, so the model is trained on exactly the views it will be shown."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from isegui.core.mask_window import Box, MaskWindow, Rect

Point = tuple[float, float]
Click = tuple[Point, bool]  # (x, y) in image pixels; True: on the object, False: background

VIEW_SIDE = 160  # model px: the click model always sees a square of this side (a multiple of 8)
EXPAND = 1.4  # the window holds the object's box grown this much (context round the object)
LEAST_SIDE = 16  # image px: the smallest window (a 3-px speck is magnified 12x, not more)
CLICK_RADIUS = 5  # model px: a click is a disk this wide in its map
GROW_WHEN_CUT = 1.8  # the window grows this much when the answer runs into its border


@dataclass(frozen=True)
class ClickView:
    """A square window of the image: its top-left corner and side in image pixels (it may
    reach past the image; what lies outside is black)."""
    x0: int
    y0: int
    side: int

    @property
    def rect(self) -> Rect:
        return self.x0, self.y0, self.x0 + self.side, self.y0 + self.side

    @property
    def scale(self) -> float:
        """Model px per image px."""
        return VIEW_SIDE / self.side

    def to_view(self, point: Point) -> Point:
        return ((point[0] - self.x0) * self.scale, (point[1] - self.y0) * self.scale)


def view_around(box: Box, expand: float = EXPAND, least: float = LEAST_SIDE) -> ClickView:
    """The square window centred on `box` whose side is the box's longer side x `expand`."""
    x0, y0, x1, y1 = box
    side = max(least, max(x1 - x0, y1 - y0) * expand)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side_px = max(1, math.ceil(side))
    return ClickView(math.floor(cx - side_px / 2), math.floor(cy - side_px / 2), side_px)


def view_for(clicks: Sequence[Click], previous: MaskWindow | None,
             first_side: float) -> ClickView:
    """The window for the next answer: round the current mask and every positive click; with
    no mask yet, a square of `first_side` image px (the project's usual object, grown by
    EXPAND) round the positive clicks."""
    positives = [p for p, positive in clicks if positive]
    boxes: list[Box] = []
    if previous is not None and previous.area:
        boxes.append(previous.tight_box())
    if positives:
        xs, ys = [p[0] for p in positives], [p[1] for p in positives]
        boxes.append((min(xs), min(ys), max(xs), max(ys)))
    if not boxes:
        xs, ys = [p[0] for p, _ in clicks], [p[1] for p, _ in clicks]
        boxes.append((min(xs), min(ys), max(xs), max(ys)))
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    if previous is None or not previous.area:
        return view_around((x0, y0, x1, y1), expand=1.0, least=max(first_side, LEAST_SIDE))
    return view_around((x0, y0, x1, y1))


def grown(view: ClickView, factor: float = GROW_WHEN_CUT) -> ClickView:
    """The same centre, a wider window."""
    side = max(view.side + 2, math.ceil(view.side * factor))
    centre_x, centre_y = view.x0 + view.side / 2, view.y0 + view.side / 2
    return ClickView(math.floor(centre_x - side / 2), math.floor(centre_y - side / 2), side)


def _on_view(image: np.ndarray, view: ClickView) -> np.ndarray:
    """The window's pixels of `image` at image resolution, zero outside the image."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = view.rect
    out = np.zeros((view.side, view.side, *image.shape[2:]), image.dtype)
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if cx1 > cx0 and cy1 > cy0:
        out[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] = image[cy0:cy1, cx0:cx1]
    return out


def view_pixels(image: np.ndarray, view: ClickView) -> np.ndarray:
    """The window of an RGB uint8 image at VIEW_SIDE x VIEW_SIDE."""
    crop = _on_view(image, view)
    shrink = view.side > VIEW_SIDE
    return cv2.resize(crop, (VIEW_SIDE, VIEW_SIDE),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def view_mask(window: MaskWindow | None, view: ClickView) -> np.ndarray:
    """A mask window seen through the view: float32 VIEW_SIDE x VIEW_SIDE, the share of each
    model pixel it covers (0 without one)."""
    if window is None:
        return np.zeros((VIEW_SIDE, VIEW_SIDE), np.float32)
    on = window.on(view.rect).astype(np.float32)
    return cv2.resize(on, (VIEW_SIDE, VIEW_SIDE), interpolation=cv2.INTER_AREA
                      if view.side > VIEW_SIDE else cv2.INTER_LINEAR)


def click_maps(clicks: Sequence[Click], view: ClickView,
               radius: int = CLICK_RADIUS) -> np.ndarray:
    """float32 (2, VIEW_SIDE, VIEW_SIDE): disks at the positive clicks, then the negative ones
    (clicks outside the window are left out)."""
    maps = np.zeros((2, VIEW_SIDE, VIEW_SIDE), np.float32)
    for point, positive in clicks:
        x, y = view.to_view(point)
        if -radius <= x < VIEW_SIDE + radius and -radius <= y < VIEW_SIDE + radius:
            cv2.circle(maps[0 if positive else 1], (int(x), int(y)), radius, 1.0, -1)
    return maps


def mask_from_view(probability: np.ndarray, view: ClickView, width: int, height: int,
                   threshold: float = 0.5) -> MaskWindow | None:
    """The model's answer (VIEW_SIDE x VIEW_SIDE probabilities) as an image-pixel mask window
    on a `width` x `height` image, cut to its pixels; None when nothing passes `threshold`."""
    x0, y0, x1, y1 = view.rect
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    # the window's own pixels only: sampled back at image resolution where it lies on the image
    scale = view.scale
    grid_x = ((np.arange(cx0, cx1, dtype=np.float32) + 0.5) - x0) * scale - 0.5
    grid_y = ((np.arange(cy0, cy1, dtype=np.float32) + 0.5) - y0) * scale - 0.5
    map_x = np.broadcast_to(grid_x[None, :], (cy1 - cy0, cx1 - cx0))
    map_y = np.broadcast_to(grid_y[:, None], (cy1 - cy0, cx1 - cx0))
    back = cv2.remap(probability.astype(np.float32), np.ascontiguousarray(map_x),
                     np.ascontiguousarray(map_y), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
    return MaskWindow.trimmed(back >= threshold, (cx0, cy0))


def runs_into_border(window: MaskWindow | None, view: ClickView, width: int, height: int,
                     margin: int = 2) -> bool:
    """Whether the answer reaches the window's edge where the image goes on past it (the
    object is probably cut: a wider window should see it whole)."""
    if window is None:
        return False
    x0, y0, x1, y1 = window.rect
    vx0, vy0, vx1, vy1 = view.rect
    edge = max(margin, math.ceil(margin / view.scale))
    return ((x0 <= vx0 + edge and vx0 > 0) or (y0 <= vy0 + edge and vy0 > 0)
            or (x1 >= vx1 - edge and vx1 < width) or (y1 >= vy1 - edge and vy1 < height))
