"""Benchmark: how well can an M x M mask in its box describe each defect class at all?

    python bench/mask_resolution.py [--frames 6] [--sizes 28,56,112]

For every labeled defect of a few `isegui demo --kind defects` frames (seeds 100...), makes the
mask target Mask R-CNN trains on (the label sampled in its exact box by roi_align at M x M, kept
where >= 0.5), pastes it back into the frame as prediction does
(ml.infer.detection.paste_in_box) and scores it against the label. The mean IoU per class is the
best a perfect model with M x M masks could do; COCO's mask mAP counts an instance found only at
IoU >= 0.5 (up to 0.95).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torchvision.ops import roi_align  # noqa: E402

from isegui.core.demo_defects import generate_frame  # noqa: E402
from isegui.core.geometry import bounds_window, rasterize  # noqa: E402
from isegui.ml.infer.detection import paste_in_box  # noqa: E402


def target_iou(label: np.ndarray, box: tuple[int, int, int, int], size: int) -> float:
    """IoU of the label with its size x size training target pasted back."""
    sampled = roi_align(torch.from_numpy(label[None, None].astype(np.float32)),
                        [torch.tensor([box], dtype=torch.float32)], (size, size), 1.0)[0, 0]
    target = (sampled >= 0.5).float().numpy()
    height, width = label.shape
    pasted = paste_in_box(target, box, height, width, 0.5)
    predicted = pasted.on((0, 0, width, height)) if pasted is not None else \
        np.zeros_like(label)
    return float((predicted & label).sum() / max(1, (predicted | label).sum()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--sizes", default="28,56,112")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    scores: dict[str, dict[int, list[float]]] = {}
    for seed in range(100, 100 + args.frames):
        image, objects = generate_frame(seed)
        height, width = image.shape[:2]
        for obj in objects:
            x0, y0, x1, y1 = bounds_window(obj.shape, height, width)
            label = np.zeros((height, width), dtype=bool)
            label[y0:y1, x0:x1] = rasterize(obj.shape, y1 - y0, x1 - x0, origin=(x0, y0))
            ys, xs = np.nonzero(label)
            box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            for size in sizes:
                scores.setdefault(obj.class_name, {}).setdefault(size, []).append(
                    target_iou(label, box, size))
    print(json.dumps({
        "benchmark": "mask_resolution", "frames": args.frames,
        "mean_iou": {name: {str(size): round(float(np.mean(v)), 3) for size, v in by.items()}
                     for name, by in sorted(scores.items())},
        "below_0.5": {name: {str(size): int(sum(x < 0.5 for x in v)) for size, v in by.items()}
                      for name, by in sorted(scores.items())},
        "instances": {name: len(next(iter(by.values()))) for name, by in sorted(scores.items())},
    }, indent=1))


if __name__ == "__main__":
    main()
