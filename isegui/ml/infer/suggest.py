"""Images worth labeling next: those the active run is least sure of. Two signs, both from the
model alone (no labels needed): detections of middling confidence, and disagreement between
the image and its mirror image (a model that knows an object finds the same mask both ways)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from isegui.core.mask_window import MaskWindow
from isegui.ml.infer.detection import ImagePredictor, prepare_image

SEEN = 0.3  # detections at or above this score count as the model's objects
SURE = 0.7  # ... and from this score up as objects it is sure of


@dataclass(frozen=True)
class Uncertainty:
    value: float  # 0 (sure) .. 2 (unsure): borderline share + mirror disagreement
    borderline: int  # detections scored in [SEEN, SURE)
    objects: int  # detections scored >= SEEN
    disagreement: float  # 1 - mean mask IoU between the image's and the mirror's objects

    def as_dict(self) -> dict[str, Any]:
        return {"value": round(self.value, 4), "borderline": self.borderline,
                "objects": self.objects, "disagreement": round(self.disagreement, 4)}


ClassedWindow = tuple[MaskWindow, int]  # a mask window and its class index


def _matched(ours: list[ClassedWindow], theirs: list[ClassedWindow]) -> list[float]:
    """Each of `ours` (windows with class) paired with the best same-class IoU in `theirs`."""
    return [max((w.iou(v) for v, c in theirs if c == cls), default=0.0) for w, cls in ours]


def uncertainty(predictor: ImagePredictor, image: np.ndarray) -> Uncertainty:
    """How unsure the model is about `image` (its threshold must be at most SEEN)."""
    frame = prepare_image(image)
    width = frame.shape[1]
    found, mirror = predictor.predict([frame, np.ascontiguousarray(frame[:, ::-1])])
    seen = [d for d in found if d.score >= SEEN]
    seen_mirror = [d for d in mirror if d.score >= SEEN]
    borderline = sum(1 for d in seen if d.score < SURE)
    ours = [(d.window, d.class_index) for d in seen]
    # the mirror's objects as windows on the image itself
    theirs = [(d.window.mirrored(width), d.class_index) for d in seen_mirror]
    ious = _matched(ours, theirs) + _matched(theirs, ours)
    if not ious:  # the model sees nothing: it knows nothing of this image
        return Uncertainty(2.0, 0, 0, 1.0)
    disagreement = 1.0 - float(np.mean(ious))
    borderline_share = borderline / len(seen) if seen else 1.0
    return Uncertainty(borderline_share + disagreement, borderline, len(seen), disagreement)
