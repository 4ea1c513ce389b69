"""How good predictions are against labels: COCO mask and box mAP (pycocotools), per-class
AP, a confusion matrix between classes, and true/false positives and misses per image."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from isegui.core import rle
from isegui.core.compare import compare
from isegui.ml.train.data import Sample
from isegui.ml.infer.detection import Detection

MAX_DETECTIONS = (1, 10, 300)  # COCO's default 100 is too few for a tray of pills


@dataclass
class ImageErrors:
    image_id: int
    path: str
    true_positives: int
    false_positives: int
    false_negatives: int


def evaluate(samples: list[Sample], detections: list[list[Detection]], classes: list[str],
             score_threshold: float = 0.5) -> dict[str, Any]:
    """Metrics of `detections` (one list per sample) against the samples' labels.

    mAP uses every detection (pycocotools ranks them by score); the confusion matrix and the
    per-image counts use detections scoring at least `score_threshold`."""
    gt_rles = [[rle.from_shape(s, sample.height, sample.width) for s in sample.shapes]
               for sample in samples]
    ignore_rles = [[rle.from_shape(s, sample.height, sample.width) for s in sample.ignore]
                   for sample in samples]
    det_rles = [[d.rle(sample.height, sample.width) for d in dets]
                for sample, dets in zip(samples, detections)]
    result: dict[str, Any] = {"images": len(samples),
                              "instances": sum(len(s.shapes) for s in samples),
                              "detections": sum(len(d) for d in detections)}
    result.update(_coco_metrics(samples, gt_rles, ignore_rles, detections, det_rles, classes))
    confusion, per_image, matched = _matches(samples, detections, classes, score_threshold,
                                             gt_rles, det_rles)
    result.update(matched)
    result["confusion"] = confusion
    result["per_image"] = [vars(p) for p in per_image]
    totals = {k: sum(getattr(p, k) for p in per_image)
              for k in ("true_positives", "false_positives", "false_negatives")}
    result.update(totals)
    return result


def _coco_metrics(samples: list[Sample], gt_rles: list[list[rle.RLE]],
                  ignore_rles: list[list[rle.RLE]], detections: list[list[Detection]],
                  det_rles: list[list[rle.RLE]], classes: list[str]) -> dict[str, Any]:
    images = [{"id": k, "width": s.width, "height": s.height} for k, s in enumerate(samples)]
    categories = [{"id": k + 1, "name": n} for k, n in enumerate(classes)]
    annotations: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for k, sample in enumerate(samples):
        for label, mask_rle in zip(sample.labels, gt_rles[k]):
            annotations.append(_ann(len(annotations) + 1, k, label, mask_rle, crowd=False))
        for mask_rle in ignore_rles[k]:  # regions to ignore: detections there are not counted
            for label in range(1, len(classes) + 1):
                annotations.append(_ann(len(annotations) + 1, k, label, mask_rle, crowd=True))
        for det, det_rle in zip(detections[k], det_rles[k]):
            x0, y0, x1, y1 = det.box
            results.append({"image_id": k, "category_id": det.class_index, "score": det.score,
                            "segmentation": det_rle, "bbox": [x0, y0, x1 - x0, y1 - y0]})
    out: dict[str, Any] = {}
    for kind in ("segm", "bbox"):
        name = "mask" if kind == "segm" else "box"
        if not annotations or not results:
            out.update({f"{name}_map": 0.0, f"{name}_map50": 0.0,
                        f"{name}_ap_per_class": {c: 0.0 for c in classes}})
            if kind == "segm":
                out["mask_pr_curve"] = {"iou": 0.5, "recall": [], "precision": {}}
            continue
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints as it goes
            gt = COCO()
            gt.dataset = {"images": images, "categories": categories,
                          "annotations": annotations}
            gt.createIndex()
            dt = gt.loadRes(results)
            ev = COCOeval(gt, dt, kind)
            ev.params.maxDets = list(MAX_DETECTIONS)
            ev.evaluate()
            ev.accumulate()
        # precision[iou, recall, class, area range, max dets]; -1 marks "no labels here".
        # Read directly: summarize() hard-codes 100 detections for its first figure.
        precision = ev.eval["precision"][:, :, :, 0, -1]
        if kind == "segm":  # precision along recall at IoU 0.5, per class
            out["mask_pr_curve"] = {
                "iou": 0.5, "recall": [round(float(r), 3) for r in ev.params.recThrs],
                "precision": {c: [round(max(0.0, float(v)), 4) for v in precision[0, :, k]]
                              for k, c in enumerate(classes)}}
        out[f"{name}_map"] = _mean_valid(precision)
        out[f"{name}_map50"] = _mean_valid(precision[0])
        out[f"{name}_ap_per_class"] = {c: _mean_valid(precision[:, :, k])
                                       for k, c in enumerate(classes)}
    return out


def _mean_valid(values: np.ndarray) -> float:
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else 0.0


def _ann(ann_id: int, image_id: int, label: int, mask_rle: rle.RLE,
         crowd: bool) -> dict[str, Any]:
    compact = rle.normalize(mask_rle)
    return {"id": ann_id, "image_id": image_id, "category_id": label,
            "segmentation": mask_rle, "area": float(coco_mask.area(compact)),
            "bbox": [float(v) for v in coco_mask.toBbox(compact)], "iscrowd": int(crowd)}


def _matches(samples: list[Sample], detections: list[list[Detection]], classes: list[str],
             threshold: float, gt_rles: list[list[rle.RLE]], det_rles: list[list[rle.RLE]]
             ) -> tuple[dict[str, Any], list[ImageErrors], dict[str, Any]]:
    """Per-image right / wrong / missed and the confusion matrix, by core's one matching rule
    (greedy by score at mask IoU >= 0.5, class ignored: a match with another class is a
    confusion) — the same rule the review colours use; and how well the right ones fit:
    the mean mask IoU of the labels matched with their own class, overall and per class
    (AP says how many were found, this how closely: a pit found at half its size still
    matches at IoU 0.5)."""
    n = len(classes)
    fits: list[list[float]] = [[] for _ in classes]
    # rows: true class (last row: no object there); columns: predicted class (last: missed)
    confusion = np.zeros((n + 1, n + 1), dtype=int)
    per_image = []
    for m, (sample, dets) in enumerate(zip(samples, detections)):
        c = compare(list(zip(sample.labels, sample.shapes)),
                    [(d.class_index, d.shape(), d.score) for d in dets], threshold)
        for k, j in (*c.true_positives.items(), *c.wrong_class.items()):
            confusion[sample.labels[j] - 1, dets[k].class_index - 1] += 1
        for k in c.false_positives:
            if k not in c.wrong_class:
                confusion[n, dets[k].class_index - 1] += 1
        for j in set(c.false_negatives) - set(c.wrong_class.values()):
            confusion[sample.labels[j] - 1, n] += 1
        for k, j in c.true_positives.items():
            fits[sample.labels[j] - 1].append(_mask_iou(det_rles[m][k], gt_rles[m][j]))
        per_image.append(ImageErrors(sample.image_id, str(sample.path),
                                     len(c.true_positives), len(c.false_positives),
                                     len(c.false_negatives)))
    labels = list(classes) + ["(none)"]
    return {"labels": labels, "rows_are": "labeled class", "columns_are": "predicted class",
            "matrix": confusion.tolist()}, per_image, {
                "matched_iou": _mean_or_none([v for f in fits for v in f]),
                "matched_iou_per_class": {c: _mean_or_none(f) for c, f in zip(classes, fits)}}


def _mask_iou(a: rle.RLE, b: rle.RLE) -> float:
    return float(np.asarray(coco_mask.iou([rle.normalize(a)], [rle.normalize(b)], [0]))[0, 0])


def _mean_or_none(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None
