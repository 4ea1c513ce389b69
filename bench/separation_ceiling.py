"""Benchmark: how well the pixel model's instances can be told apart at best, per surface.

    python bench/separation_ceiling.py [--surfaces ...] [--frames 8] [--size 2448x2048]

A pixel model says which class each pixel shows; turning that map into objects is a separate
step (ml.infer.blobs, ml.infer.separate) that touching and crossing defects make hard. This
bench gives that step a perfect map (each pixel the class of the top label there, probability
1) of the surfaces of bench/surfaces.py, so the mask AP it reaches is the ceiling any trained
model can reach through it. It compares the shape kinds the labels choose (crossing lines
split, touching spots split, pieces of a line joined across what interrupts it) with
connected regions alone (what runs made before shape kinds do). The shape kinds come from
other frames' labels (seed 0, as a run's would), the scored frames from seed 7 (the suite's
unseen seed). No training: about a minute. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.defect_suite import TRAIN_SEED, UNSEEN_SEED, score_frames  # noqa: E402
from bench.surfaces import SURFACES, render, surface  # noqa: E402
from isegui.core.geometry import rasterize  # noqa: E402
from isegui.core.working_scale import (TILES, LabeledShapes, ShapeKind,  # noqa: E402
                                       WorkingScale, pixel_classes)
from isegui.ml.infer.blobs import blob_detections  # noqa: E402
from isegui.ml.train.data import Sample  # noqa: E402

KIND_FRAMES = 10  # frames whose labels choose the shape kinds


def perfect_map(objects: list, classes: list[str], height: int, width: int) -> np.ndarray:
    """Probabilities (classes x H x W): 1 for the class of the top label on each pixel."""
    probs = np.zeros((len(classes), height, width), np.float32)
    top = np.zeros((height, width), np.int32)
    for obj in objects:  # paint order: the later is on top
        top[rasterize(obj.shape, height, width)] = classes.index(obj.class_name) + 1
    for k in range(len(classes)):
        probs[k][top == k + 1] = 1.0
    return probs


def run_surface(name: str, frames: int, width: int, height: int) -> dict[str, Any]:
    kind = surface(name)
    classes = [name for name, _ in kind.classes]
    seen = [render(kind, 100_003 * TRAIN_SEED + k, width, height) for k in range(KIND_FRAMES)]
    labeled = LabeledShapes(classes, [([classes.index(o.class_name) + 1 for o in f.objects],
                                       [o.shape for o in f.objects]) for f in seen])
    kinds = pixel_classes(labeled, 1.0)
    shapes = [kinds.get(c, ShapeKind()) for c in classes]
    samples, with_kinds, without = [], [], []
    start = time.perf_counter()
    for k in range(frames):
        frame = render(kind, 100_003 * UNSEEN_SEED + k, width, height)
        samples.append(Sample(k, Path(f"frame_{k:03d}.png"), width, height,
                              tuple(classes.index(o.class_name) + 1 for o in frame.objects),
                              tuple(o.shape for o in frame.objects)))
        probs = perfect_map(frame.objects, classes, height, width)
        labels = list(range(1, len(classes) + 1))
        with_kinds.append(blob_detections(probs, labels, classes, (1.0, 1.0), kinds=shapes))
        without.append(blob_detections(probs, labels, classes, (1.0, 1.0)))
    seconds = time.perf_counter() - start
    marks = [np.zeros((height, width), bool)] * frames
    working = WorkingScale(TILES, 512, 1.0, blob_classes=tuple(classes))
    scored = {label: score_frames(samples, found, classes, marks, working)
              for label, found in (("shape_kinds", with_kinds), ("regions_only", without))}
    return {"kinds": {c: [k.kind, k.size] for c, k in zip(classes, shapes)},
            "labels": sum(len(s.labels) for s in samples),
            "seconds_per_frame": round(seconds / max(1, frames), 2),
            **{label: {key: result[key] for key in ("mask_map", "mask_map50", "matched",
                                                     "labels", "mean_matched_iou")}
               | {"mask_ap_per_class": {c: v["mask_ap"]
                                        for c, v in result["per_class"].items()}}
               for label, result in scored.items()}}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--surfaces", default=",".join(SURFACES))
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", default="2448x2048")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    result = {"benchmark": "separation_ceiling", "frames": args.frames, "size": args.size,
              "surfaces": {name: run_surface(name, args.frames, width, height)
                           for name in args.surfaces.split(",")}}
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
