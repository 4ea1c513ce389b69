"""How good predictions are against labels: COCO mask and box mAP (pycocotools), per-class
AP, a confusion matrix between classes, and true/false positives and misses per image."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from isegui.core import rle
from isegui.ml.data import Sample
from isegui.ml.predict import Detection

MATCH_IOU = 0.5
MAX_DETECTIONS = (1, 10, 300)  # COCO's default 100 is too few for a tray of pills


@dataclass
class ImageErrors:
    image_id: int
    path: str
    true_positives: int
    false_positives: int
    false_negatives: int


def evaluate(samples: list[Sample], detections: list[list[Detection]], classes: list[str],
             score_threshold: float = 0.5) -> dict:
    """Metrics of `detections` (one list per sample) against the samples' labels.

    mAP uses every detection (pycocotools ranks them by score); the confusion matrix and the
    per-image counts use detections scoring at least `score_threshold`."""
    gt_rles = [[rle.from_shape(s, sample.height, sample.width) for s in sample.shapes]
               for sample in samples]
    ignore_rles = [[rle.from_shape(s, sample.height, sample.width) for s in sample.ignore]
                   for sample in samples]
    det_rles = [[d.rle(sample.height, sample.width) for d in dets]
                for sample, dets in zip(samples, detections)]
    result = {"images": len(samples),
              "instances": sum(len(s.shapes) for s in samples),
              "detections": sum(len(d) for d in detections)}
    result.update(_coco_metrics(samples, gt_rles, ignore_rles, detections, det_rles, classes))
    confusion, per_image = _matches(samples, gt_rles, detections, det_rles, classes,
                                    score_threshold)
    result["confusion"] = confusion
    result["per_image"] = [vars(p) for p in per_image]
    totals = {k: sum(getattr(p, k) for p in per_image)
              for k in ("true_positives", "false_positives", "false_negatives")}
    result.update(totals)
    return result


def _coco_metrics(samples, gt_rles, ignore_rles, detections, det_rles, classes) -> dict:
    images = [{"id": k, "width": s.width, "height": s.height} for k, s in enumerate(samples)]
    categories = [{"id": k + 1, "name": n} for k, n in enumerate(classes)]
    annotations, results = [], []
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
    out = {}
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


def _ann(ann_id, image_id, label, mask_rle, crowd):
    compact = rle.normalize(mask_rle)
    return {"id": ann_id, "image_id": image_id, "category_id": label,
            "segmentation": mask_rle, "area": float(coco_mask.area(compact)),
            "bbox": [float(v) for v in coco_mask.toBbox(compact)], "iscrowd": int(crowd)}


def _matches(samples, gt_rles, detections, det_rles, classes, threshold):
    """Greedy matching by score at mask IoU >= 0.5, ignoring class: a match with another class
    is a confusion, one with the same class a true positive."""
    n = len(classes)
    # rows: true class (last row: no object there); columns: predicted class (last: missed)
    confusion = np.zeros((n + 1, n + 1), dtype=int)
    per_image = []
    for k, sample in enumerate(samples):
        keep = [j for j, d in enumerate(detections[k]) if d.score >= threshold]
        keep.sort(key=lambda j: -detections[k][j].score)
        gts, dts = gt_rles[k], [det_rles[k][j] for j in keep]
        tp = fp = 0
        matched_gt: set[int] = set()
        if gts and dts:
            ious = coco_mask.iou([rle.normalize(d) for d in dts],
                                 [rle.normalize(g) for g in gts], [0] * len(gts))
        for row, j in enumerate(keep):
            det = detections[k][j]
            best, best_iou = None, MATCH_IOU
            for g in range(len(gts)):
                if g not in matched_gt and ious[row, g] >= best_iou:
                    best, best_iou = g, ious[row, g]
            if best is None:
                confusion[n, det.class_index - 1] += 1
                fp += 1
                continue
            matched_gt.add(best)
            true_label = sample.labels[best]
            confusion[true_label - 1, det.class_index - 1] += 1
            if true_label == det.class_index:
                tp += 1
            else:
                fp += 1
        missed = [g for g in range(len(gts)) if g not in matched_gt]
        for g in missed:
            confusion[sample.labels[g] - 1, n] += 1
        per_image.append(ImageErrors(sample.image_id, str(sample.path), tp, fp,
                                     len(gts) - tp))
    labels = list(classes) + ["(none)"]
    return {"labels": labels, "rows_are": "labeled class", "columns_are": "predicted class",
            "matrix": confusion.tolist()}, per_image
