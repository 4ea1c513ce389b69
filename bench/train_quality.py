"""Benchmark: how good a model gets in a wall-clock budget, and how fast it predicts.

    python bench/train_quality.py [--model fast] [--minutes 15] [--train 200] [--heldout 50]
                                  [--size 512] [--batch 4] [--device auto]

Demo-generator scenes: a train set (seeds from 1000) and a held-out set of other seeds (from
90000). Trains for the budget, evaluates mask and box mAP on the held-out set, measures
training images/s, inference ms per image at 384 and 512 px and peak memory. Prints one JSON
object. Training and inference run in child processes so each peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from core_io import peak_rss_mb  # noqa: E402


def make_project(folder: Path, n: int, first_seed: int, size: tuple[int, int]) -> None:
    from isegui.core.demo import CLASSES, generate_scene
    from isegui.core.entities import ImageStatus, Source, Split
    from isegui.core.images import save_image
    from isegui.core.project import Project
    with Project.create(folder, name=folder.name) as project:
        store = project.store
        with store.transaction():
            ids = {name: store.add_class(name, color).id for name, color in CLASSES}
            for k in range(n):
                image, objects = generate_scene(first_seed + k, *size)
                rel = f"images/scene_{k:04d}.jpg"
                save_image(folder / rel, image)
                record = store.add_image(rel, size[0], size[1], Split.TRAIN, ImageStatus.LABELED)
                store.add_instances(record.id, [(ids[o.class_name], o.shape, None, None,
                                                 Source.MANUAL, False) for o in objects])


def train_phase(args) -> dict:
    from isegui.ml.progress import RecordingReporter
    from isegui.ml.spec import TrainSpec
    from isegui.ml.train import fit
    reporter = RecordingReporter()
    start = time.perf_counter()
    result = fit(TrainSpec(project=args.workdir / "train", model=args.model, size=args.size,
                           epochs=None, minutes=args.minutes, batch=args.batch,
                           device=args.device, val_fraction=0.0, name="bench"), reporter)
    seconds = time.perf_counter() - start
    steps = reporter.of("step")
    return {"seconds": round(seconds, 1), "epochs": result.epochs, "steps": result.steps,
            "train_images_per_s": steps[-1]["images_per_s"] if steps else 0.0,
            "device": reporter.of("start")[0]["device"],
            "init": reporter.of("start")[0]["init"]["source"],
            "final_loss": round(steps[-1]["losses"]["loss"], 4) if steps and
            steps[-1]["losses"] else None,
            "checkpoint": str(result.checkpoint or (args.workdir / "train" / "runs" / "0001" /
                                                    "last.pt")),
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def evaluate_phase(args) -> dict:
    import numpy as np
    import torch
    from isegui.core.entities import Split
    from isegui.core.images import load_image
    from isegui.ml.data import read_samples
    from isegui.ml.evaluate import evaluate
    from isegui.ml.predict import Predictor
    predictor = Predictor.from_checkpoint(args.checkpoint, args.device, threshold=0.05)
    classes, by_split, _ = read_samples(args.workdir / "heldout", predictor.classes)
    samples = by_split[Split.TRAIN]
    images = [load_image(s.path) for s in samples]
    detections = predictor.predict(images, batch_size=1)
    result = evaluate(samples, detections, classes)
    out = {k: round(result[k], 4) for k in ("mask_map", "mask_map50", "box_map", "box_map50")}
    out["mask_ap_per_class"] = {k: round(v, 4) for k, v in result["mask_ap_per_class"].items()}
    # inference speed: one image at a time, as a line PC sees them, with the model's input
    # (long side) at 384 and at 512 px
    speed = {}
    predictor.threshold = 0.5
    predictor.model.roi_heads.score_thresh = 0.5
    for side in (384, 512):
        predictor.set_input_size(side)
        frames = [np.ascontiguousarray(_fit_side(im, side)) for im in images[:12]]
        predictor.predict(frames[:2], batch_size=1)  # warm-up
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        predictor.predict(frames[2:], batch_size=1)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        speed[f"ms_per_image_{side}"] = round((time.perf_counter() - start) * 1000 /
                                              (len(frames) - 2), 1)
    return {**out, **speed, "peak_rss_mb": round(peak_rss_mb(), 1)}


def _fit_side(image, side: int):
    import cv2
    h, w = image.shape[:2]
    scale = side / max(h, w)
    return cv2.resize(image, (round(w * scale), round(h * scale)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="fast")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--train", type=int, default=200)
    parser.add_argument("--heldout", type=int, default=50)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(train_phase(args) if args.phase == "train" else evaluate_phase(args)))
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="isegui-train-bench-"))
    try:
        start = time.perf_counter()
        make_project(workdir / "train", args.train, 1000, (512, 384))
        make_project(workdir / "heldout", args.heldout, 90000, (512, 384))
        result = {"benchmark": "train_quality", "model": args.model, "size": args.size,
                  "batch": args.batch, "budget_minutes": args.minutes,
                  "train_images": args.train, "heldout_images": args.heldout,
                  "machine": f"{platform.machine()}, {_cores()} cores",
                  "data_seconds": round(time.perf_counter() - start, 1)}
        common = [sys.executable, __file__, "--workdir", str(workdir), "--model", args.model,
                  "--size", str(args.size), "--batch", str(args.batch), "--device", args.device,
                  "--minutes", str(args.minutes)]
        result["train"] = _child(common + ["--phase", "train"])
        result["heldout"] = _child(common + ["--phase", "evaluate", "--checkpoint",
                                             result["train"]["checkpoint"]])
        print(json.dumps(result, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _child(cmd: list[str]) -> dict:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"benchmark phase failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cores() -> int:
    import os
    return os.cpu_count() or 1


if __name__ == "__main__":
    main()
