"""A judged image drawn for the operator (the station) and for the NG overlays: what the rules
named in the reasons in red and numbered as the reasons number it, the rest they counted in
green and numbered too, and what they did not count (below its class's minimum score) only
when asked, thin and grey. Without rules every detection is drawn, in the verdict's colour."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from isegui.core.line_rules import Verdict
from isegui.ml.infer.detection import Detection, prepare_image

FLAGGED, COUNTED, BELOW = "flagged", "counted", "below"
RED, GREEN, GREY = (40, 40, 230), (60, 200, 60), (150, 150, 150)  # BGR


def marks_of(verdict: Verdict | None, found: Sequence[Detection]) -> list[str]:
    """What each detection was to the rules: FLAGGED, COUNTED or BELOW (no rules: COUNTED)."""
    if verdict is None:
        return [COUNTED] * len(found)
    flagged, counted = set(verdict.flagged), set(verdict.counted)
    return [FLAGGED if k in flagged else COUNTED if k in counted else BELOW
            for k in range(1, len(found) + 1)]


def draw_verdict(pixels: np.ndarray | None, found: Sequence[Detection], verdict: str,
                 marks: Sequence[str] | None = None, show_all: bool = False) -> np.ndarray:
    """The image (BGR) with its detections drawn; a dark frame when it could not be read."""
    if pixels is None:
        return np.full((240, 320, 3), 40, np.uint8)
    image = cv2.cvtColor(prepare_image(pixels), cv2.COLOR_RGB2BGR)
    thick = max(2, round(max(image.shape[:2]) / 400))
    order = list(enumerate(found, start=1))
    if marks is None:  # no rules: all alike, in the verdict's colour
        color = RED if verdict == "NG" else GREEN
        for _, det in order:
            _outline(image, det, color, thick, det.class_name)
        return image
    ranked = {BELOW: 0, COUNTED: 1, FLAGGED: 2}  # the flagged on top
    for k, det in sorted(order, key=lambda kd: ranked[marks[kd[0] - 1]]):
        mark = marks[k - 1]
        if mark == BELOW:
            if show_all:
                _outline(image, det, GREY, 1, None)
            continue
        _outline(image, det, RED if mark == FLAGGED else GREEN,
                 thick + (1 if mark == FLAGGED else 0), f"#{k} {det.class_name}")
    return image


def _outline(image: np.ndarray, det: Detection, color: tuple[int, int, int], thick: int,
             label: str | None) -> None:
    x, y = det.origin
    contours, _ = cv2.findContours(det.mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(image, contours, -1, color, thick, offset=(x, y))
    if label:
        scale = 0.3 * max(2, thick)
        cv2.putText(image, label, (x, max(12, y - 3)), cv2.FONT_HERSHEY_SIMPLEX, scale, color,
                    max(1, thick // 2), cv2.LINE_AA)
