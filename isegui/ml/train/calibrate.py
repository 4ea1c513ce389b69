"""The blob classes' pixel thresholds, chosen on the validation frames.

A blob class's map is a probability per pixel; where it is cut decides the extent of every
object found (a pit cut at 0.5 came out half its labeled size) and which faint ones are found
at all. Each class's cut is the one of CUTOFFS under which that class's validation mask AP is
highest (ties: the one nearest the usual 0.5); the run stores the cuts in its working scale, so
Review, predict, the ONNX export and the line use them alike. The maps are those validation
has already stitched: each candidate costs only turning maps into objects again."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from isegui.core.working_scale import BLOB_THRESHOLD, WorkingScale
from isegui.ml.infer.detection import Detection
from isegui.ml.infer.tiled import BlobMap
from isegui.ml.train.data import Sample
from isegui.ml.train.evaluate import evaluate

CUTOFFS = (0.3, 0.4, 0.5, 0.6)


def calibrate_cutoffs(samples: Sequence[Sample], detections: Sequence[list[Detection]],
                      maps: Sequence[BlobMap], working: WorkingScale, classes: list[str],
                      score: float) -> tuple[WorkingScale, list[list[Detection]], dict[str, Any]]:
    """`working` with each blob class's calibrated threshold, the samples' detections under
    it and their metrics (ml.train.evaluate). `detections` and `maps` are one per sample, as
    prediction gave them; `score` is the least score kept."""
    names = [name for name in working.blob_classes if name in classes]
    kept = [[d for d in found if d.class_name not in names] for found in detections]

    def under(cuts: Sequence[float]) -> tuple[list[list[Detection]], dict[str, Any]]:
        trial = dataclasses.replace(working, blob_thresholds=tuple(cuts))
        found = [k + m.detections(trial, classes, score, BLOB_THRESHOLD)
                 for k, m in zip(kept, maps)]
        return found, evaluate(list(samples), found, classes)

    per_class: dict[float, dict[str, float]] = {}
    for cut in CUTOFFS:
        _, result = under([cut] * len(names))
        per_class[cut] = result["mask_ap_per_class"]
    best = [max(CUTOFFS, key=lambda c: (per_class[c].get(name, 0.0),
                                       -abs(c - BLOB_THRESHOLD))) for name in names]
    found, result = under(best)
    return dataclasses.replace(working, blob_thresholds=tuple(best)), found, result
