"""Benchmark: how good each model gets in the same wall-clock budget, and how fast it predicts.

    python bench/train_quality.py [--models fast,stock] [--speed-only accurate]
                                  [--minutes 15] [--train 200] [--heldout 50]
                                  [--size 512] [--batch 4] [--device auto]

Demo-generator scenes: a train set (seeds from 1000) and a held-out set of other seeds (from
90000). Each model of --models trains for the budget, one after the other on the same data,
and is evaluated (mask and box mAP) on the held-out set; `stock` is torchvision's
maskrcnn_resnet50_fpn trained as its tutorial does (bench/stock_maskrcnn.py); names starting
`variant-` are the designs tried for `fast` (bench/fast_variants.py). Inference ms per image at
384 and 512 px for each, and for the --speed-only models untrained; onnxruntime beside torch
for the registered models. Training images/s and peak memory of each phase (child processes,
so each peak is its own). Prints one JSON object; the variants' recorded figures from the
runs that chose `fast` (bench/results/fast_variants.jsonl) are added to it.
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

import fast_variants  # noqa: E402,F401  (registers the variant-* models)
import stock_maskrcnn  # noqa: E402
from core_io import peak_rss_mb  # noqa: E402

RECORDED_VARIANTS = Path(__file__).resolve().parent / "results" / "fast_variants.jsonl"


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
    if args.model == stock_maskrcnn.NAME:
        out = args.workdir / "stock.pt"
        result = stock_maskrcnn.train(args.workdir / "train", args.minutes, out)
        return {**result, "checkpoint": str(out), "peak_rss_mb": round(peak_rss_mb(), 1)}
    from isegui.ml.run_protocol import RecordingReporter
    from isegui.ml.train.spec import TrainSpec
    from isegui.ml.train.trainer import fit
    reporter = RecordingReporter()
    start = time.perf_counter()
    project = args.workdir / f"train-{args.model}"
    shutil.copytree(args.workdir / "train", project)
    result = fit(TrainSpec(project=project, model=args.model, size=args.size,
                           epochs=None, minutes=args.minutes, batch=args.batch,
                           device=args.device, val_fraction=0.0, name="bench",
                           pretrained_search=False), reporter)
    seconds = time.perf_counter() - start
    steps = reporter.of("step")
    return {"seconds": round(seconds, 1), "epochs": result.epochs, "steps": result.steps,
            "train_images_per_s": steps[-1]["images_per_s"] if steps else 0.0,
            "device": reporter.of("start")[0]["device"],
            "final_loss": round(steps[-1]["losses"]["loss"], 4) if steps and
            steps[-1]["losses"] else None,
            "checkpoint": str(project / "runs" / "0001" / "last.pt"),
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def _predictor(args, threshold: float):
    from isegui.ml.model.device import resolve_device
    from isegui.ml.model.torch_predictor import Predictor
    if args.model == stock_maskrcnn.NAME:
        model, classes = stock_maskrcnn.load(Path(args.checkpoint))
        return Predictor(model, classes, resolve_device(args.device), threshold)
    if args.checkpoint is None:  # speed only: an untrained model of the right shape
        from isegui.core.demo import CLASSES
        from isegui.ml.model.registry import build_model
        model = build_model(args.model, num_classes=len(CLASSES), size=args.size)
        return Predictor(model, [c for c, _ in CLASSES], resolve_device(args.device),
                         threshold)
    return Predictor.from_checkpoint(args.checkpoint, args.device, threshold=threshold)


def evaluate_phase(args) -> dict:
    from isegui.core.entities import Split
    from isegui.core.images import load_image
    from isegui.ml.train.data import read_samples
    from isegui.ml.train.evaluate import evaluate
    predictor = _predictor(args, threshold=0.05)
    classes, by_split, _ = read_samples(args.workdir / "heldout", predictor.classes)
    samples = by_split[Split.TRAIN]
    images = [load_image(s.path) for s in samples]
    out = {}
    if args.checkpoint is not None:
        detections = predictor.predict(images, batch_size=1)
        result = evaluate(samples, detections, classes)
        out = {k: round(result[k], 4) for k in ("mask_map", "mask_map50", "box_map",
                                                 "box_map50")}
        out["mask_ap_per_class"] = {k: round(v, 4) for k, v in
                                    result["mask_ap_per_class"].items()}
    # inference speed: one image at a time, as a line PC sees them, with the model's input
    # (long side) at 384 and at 512 px, keeping detections above 0.5
    predictor.threshold = 0.5
    for side in (384, 512):
        predictor.set_input_size(side)
        out[f"ms_per_image_{side}"] = _time_predictions(predictor, images, side)
    if args.onnx and args.checkpoint is not None and args.model != stock_maskrcnn.NAME:
        out.update(_onnx_speed(args, images))
    return {**out, "peak_rss_mb": round(peak_rss_mb(), 1)}


def _time_predictions(predictor, images, side: int) -> float:
    import numpy as np
    import torch
    frames = [np.ascontiguousarray(_fit_side(im, side)) for im in images[:12]]
    predictor.predict(frames[:2], batch_size=1)  # warm-up
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    predictor.predict(frames[2:], batch_size=1)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return round((time.perf_counter() - start) * 1000 / (len(frames) - 2), 1)


def _fit_side(image, side: int):
    import cv2
    h, w = image.shape[:2]
    scale = side / max(h, w)
    return cv2.resize(image, (round(w * scale), round(h * scale)))


def _onnx_speed(args, images) -> dict:
    """The same checkpoint exported to ONNX at each size, on onnxruntime (CPU)."""
    from isegui.ml.model.onnx_export import export_onnx
    from isegui.ml.infer.onnx_model import OnnxPredictor
    out = {}
    for side in (384, 512):
        path = args.workdir / f"{args.model}-{side}.onnx"
        export_onnx(args.checkpoint, path, size=side)
        out[f"onnxruntime_ms_per_image_{side}"] = _time_predictions(
            OnnxPredictor(path, threshold=0.5), images, side)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="fast,stock",
                        help="trained and evaluated, one after the other")
    parser.add_argument("--speed-only", default="accurate",
                        help="only timed (untrained), e.g. 'accurate'; '' for none")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--train", type=int, default=200)
    parser.add_argument("--heldout", type=int, default=50)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-onnx", dest="onnx", action="store_false",
                        help="skip the onnxruntime timings")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--model", help=argparse.SUPPRESS)
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
        result = {"benchmark": "train_quality", "size": args.size, "batch": args.batch,
                  "budget_minutes": args.minutes, "train_images": args.train,
                  "heldout_images": args.heldout,
                  "machine": f"{platform.machine()}, {_cores()} cores", "device": _device(),
                  "data_seconds": round(time.perf_counter() - start, 1), "models": {}}
        common = [sys.executable, __file__, "--workdir", str(workdir), "--size", str(args.size),
                  "--batch", str(args.batch), "--device", args.device,
                  "--minutes", str(args.minutes)] + ([] if args.onnx else ["--no-onnx"])
        for model in _names(args.models):
            entry = {"train": _child(common + ["--model", model, "--phase", "train"])}
            entry["heldout"] = _child(common + ["--model", model, "--phase", "evaluate",
                                                "--checkpoint", entry["train"]["checkpoint"]])
            result["models"][model] = entry
            print(json.dumps({model: entry}), file=sys.stderr, flush=True)  # as it goes
        for model in _names(args.speed_only):
            result["models"][model] = {"untrained_speed_only": _child(
                common + ["--model", model, "--phase", "evaluate", "--no-onnx"])}
        if "fast" in result["models"] and "stock" in result["models"]:
            fast, stock = (result["models"][m]["heldout"] for m in ("fast", "stock"))
            result["fast_speedup_over_stock_512"] = round(
                stock["ms_per_image_512"] / fast["ms_per_image_512"], 1)
        if RECORDED_VARIANTS.is_file():
            result["variants_recorded"] = [json.loads(line) for line in
                                           RECORDED_VARIANTS.read_text().splitlines() if line]
        print(json.dumps(result, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _names(text: str) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def _device() -> str:
    import torch
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


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
