"""Predictions against labels on one image: which are right, which wrong, which missed.
Matching is greedy by score at mask IoU >= 0.5 regardless of class (a match with another class
is a confusion: a false positive, and its label missed), as in COCO's evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

from isegui.core.geometry import Shape
from isegui.core.store import Store

MATCH_IOU = 0.5


@dataclass
class Comparison:
    true_positives: dict[int, int] = field(default_factory=dict)  # prediction -> label index
    false_positives: list[int] = field(default_factory=list)  # prediction indices
    false_negatives: list[int] = field(default_factory=list)  # label indices
    wrong_class: dict[int, int] = field(default_factory=dict)  # prediction -> label (also FP)

    @property
    def errors(self) -> int:
        return len(self.false_positives) + len(self.false_negatives)


def compare(labels: list[tuple[int | None, Shape]],
            predictions: list[tuple[int | None, Shape, float]],
            threshold: float = 0.0, iou: float = MATCH_IOU) -> Comparison:
    """`labels`: (class id, shape); `predictions`: (class id, shape, score). Predictions below
    `threshold` take no part. Indices refer to the lists given."""
    out = Comparison()
    kept = sorted((k for k, p in enumerate(predictions) if p[2] >= threshold),
                  key=lambda k: -predictions[k][2])
    label_shapes = np.array([s for _, s in labels], dtype=object)
    tree = shapely.STRtree(label_shapes) if len(label_shapes) else None
    matched: set[int] = set()
    for k in kept:
        p_class, p_shape, _ = predictions[k]
        best, best_iou = None, iou
        if tree is not None:
            for j in tree.query(p_shape, predicate="intersects").tolist():
                if j in matched:
                    continue
                inter = p_shape.intersection(label_shapes[j]).area
                union = p_shape.area + label_shapes[j].area - inter
                value = inter / union if union > 0 else 0.0
                if value >= best_iou:
                    best, best_iou = j, value
        if best is None:
            out.false_positives.append(k)
            continue
        matched.add(best)
        if labels[best][0] == p_class:
            out.true_positives[k] = best
        else:
            out.wrong_class[k] = best
            out.false_positives.append(k)
    found = set(out.true_positives.values())
    out.false_negatives = [j for j in range(len(labels)) if j not in found]
    return out


@dataclass(frozen=True)
class ImageErrors:
    image_id: int
    wrong: int  # predictions that match no label of their class
    missed: int  # labels no prediction found

    @property
    def errors(self) -> int:
        return self.wrong + self.missed


def images_by_errors(store: Store, run_id: int | None, threshold: float) -> list[ImageErrors]:
    """The images a run predicted, worst first (most wrong + missed at `threshold`; then by
    id): where a reviewer looks first."""
    rows = []
    for image_id in store.images_with_predictions(run_id):
        labels = [(i.class_id, i.shape) for i in store.instances(image_id) if not i.crowd]
        preds = [(p.class_id, p.shape, p.score) for p in store.predictions(image_id, run_id)]
        c = compare(labels, preds, threshold)
        rows.append(ImageErrors(image_id, len(c.false_positives), len(c.false_negatives)))
    return sorted(rows, key=lambda r: (-r.errors, r.image_id))
