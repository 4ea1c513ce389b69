"""The simulated annotator of interactive-segmentation papers, on a click model: each click
goes to the point farthest inside the largest error (core.labeling_aids.next_click), the
model answers from every click so far and its own last mask."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from isegui.core.click_view import Click
from isegui.core.labeling_aids import ClickSession, next_click_on
from isegui.core.mask_window import MaskWindow

Segment = Callable[[np.ndarray, Sequence[Click], MaskWindow | None], MaskWindow | None]


def click_ious(segment: Segment, image: np.ndarray, truth: MaskWindow, clicks: int = 20,
               stop_at: float | None = None) -> list[float]:
    """The mask's IoU with `truth` after each simulated click (stopping once it reaches
    `stop_at`, or when there is no error left to click on)."""
    made: list[Click] = []
    current: MaskWindow | None = None
    ious: list[float] = []
    for _ in range(clicks):
        click = next_click_on(current, truth)
        if click is None:
            break
        made.append(click)
        current = segment(image, made, current)
        ious.append(0.0 if current is None else current.iou(truth))
        if stop_at is not None and ious[-1] >= stop_at:
            break
    return ious


def session_answers(session: ClickSession) -> Segment:
    """The click tool's session as a Segment: each call is its answer to the newest click."""
    def answer(image: np.ndarray, clicks: Sequence[Click],
               current: MaskWindow | None) -> MaskWindow | None:
        point, positive = clicks[-1]
        return session.click(point, positive)
    return answer
