"""Benchmark: small defects in large frames, tiles against whole-image scaling.

    python bench/large_frames.py [--minutes 15] [--train 30] [--unseen 12] [--size 2448x2048]
                                 [--modes tiles,detector,whole] [--workdir DIR]

`isegui demo --kind defects` makes --train frames (its 80/20 train/val split: the run
validates on its val frames) and, from other seeds, --unseen frames no part of a run sees.
Each mode trains `isegui train --minutes M` with every other setting at its default: "tiles"
lets the run choose its working scale from the labels (tiles at the camera's scale here, and
the defect classes found as blobs, ml.infer.blobs), "detector" the same tiles with the detector for
every class (--no-blobs), "whole" today's whole-image scaling (--tile 0). Then each run's best
checkpoint predicts the unseen frames as `isegui predict` does (pycocotools mask and box mAP,
seconds per frame). For the tiles model: onnxruntime seconds per frame, and the peak RSS of a
process predicting one 20-MP frame (5472 x 3648), torch and onnxruntime. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# how each mode asks `isegui train`: "tiles" lets the run choose (tiles, and blob classes for
# the defects, whose objects never touch), "detector" the same tiles with every class left to
# the detector, "whole" today's whole-image scaling
MODES = {"tiles": [], "detector": ["--no-blobs"], "whole": ["--tile", "0"]}
UNSEEN_SEED = 7  # the unseen frames' generator seed (the train frames use seed 0)
BIG_FRAME = (5472, 3648)  # 20 MP


def isegui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "isegui", *args], capture_output=True,
                          text=True, check=True)


def train(project: Path, minutes: float, extra: list[str]) -> dict:
    start = time.perf_counter()
    out = isegui("train", str(project), "--minutes", f"{minutes:g}", "--progress", "jsonl",
                 *extra)
    seconds = time.perf_counter() - start
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    first = next(e for e in events if e["event"] == "start")
    done = next(e for e in events if e["event"] == "done")
    steps = [e for e in events if e["event"] == "step"]
    rate = steps[-1].get("images_per_s") if steps else None  # tiles or images a second
    return {"working_scale": first.get("working_scale"), "seconds": round(seconds, 1),
            "train_seconds": done.get("seconds"), "epochs": done.get("epochs"),
            "steps": done.get("steps"), "train_images_per_second": rate,
            "best": done.get("best"),
            "checkpoint": done.get("checkpoint"),
            "advice": [f"{a['level']}: {a['title']}" for a in first.get("advice", [])]}


def trained_before(project: Path) -> dict:
    """What `train` says, read back from a run made earlier in this workdir (--reuse)."""
    from isegui.core.project import Project
    with Project.open(project, read_only=True) as opened:
        (run,) = opened.store.runs()
        checkpoint = opened.folder / run.checkpoint if run.checkpoint else None
    events = [json.loads(line) for line in
              (project / "runs" / f"{run.id:04d}" / "events.jsonl").read_text().splitlines()]
    steps = [e for e in events if e["event"] == "step"]
    epochs = [e for e in events if e["event"] == "epoch"]
    return {"working_scale": run.config.get("working_scale"), "reused": True,
            "train_seconds": steps[-1]["elapsed_s"] if steps else None,
            "epochs": len(epochs), "steps": steps[-1]["step"] if steps else 0,
            "train_images_per_second": steps[-1].get("images_per_s") if steps else None,
            "best": (run.metrics or {}).get("best"),
            "checkpoint": str(checkpoint) if checkpoint else None}


def score_unseen(checkpoint: str, unseen: Path, onnx: bool = False) -> dict:
    """mAP of the checkpoint (or its ONNX export) on the unseen frames, and seconds per
    frame of prediction (decoding excluded)."""
    from isegui.core.images import load_image
    from isegui.ml.train.data import read_samples
    from isegui.ml.train.evaluate import evaluate
    from isegui.ml.model.predictors import load_predictor
    predictor = load_predictor(checkpoint, "cpu", threshold=0.05)
    classes, by_split, _ = read_samples(unseen, predictor.classes)
    samples = [s for split in by_split.values() for s in split]
    detections, seconds = [], []
    for sample in samples:
        image = load_image(sample.path)
        start = time.perf_counter()
        detections += predictor.predict([image])
        seconds.append(time.perf_counter() - start)
    result = evaluate(samples, detections, classes, 0.5)
    per_frame = sorted(seconds)[1:] or seconds  # the first warms up
    return {"frames": len(samples), "instances": result["instances"],
            "mask_map": round(result["mask_map"], 4), "mask_map50": round(result["mask_map50"], 4),
            "box_map": round(result["box_map"], 4),
            "mask_ap_per_class": {k: round(v, 4) for k, v in result["mask_ap_per_class"].items()},
            "found_false_missed": [result[k] for k in ("true_positives", "false_positives",
                                                       "false_negatives")],
            "seconds_per_frame": round(sum(per_frame) / len(per_frame), 3)}


PEAK_RSS = """
import resource, sys, time
from isegui.core.demo_defects import generate_frame
from isegui.ml.model.predictors import load_predictor
image, _ = generate_frame(123, {w}, {h})
predictor = load_predictor(sys.argv[1], "cpu", threshold=0.05)
start = time.perf_counter()
found = predictor.predict([image])[0]
seconds = time.perf_counter() - start
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, seconds, len(found))
"""


def peak_rss(model: str) -> dict:
    """Peak RSS (MB) of a fresh process making a 20-MP frame and predicting on it."""
    code = PEAK_RSS.format(w=BIG_FRAME[0], h=BIG_FRAME[1])
    out = subprocess.run([sys.executable, "-c", code, model], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    mb, seconds, found = out.stdout.split()
    return {"frame": f"{BIG_FRAME[0]}x{BIG_FRAME[1]}", "peak_rss_mb": round(float(mb)),
            "seconds": round(float(seconds), 2), "detections": int(found)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--train", type=int, default=30)
    parser.add_argument("--unseen", type=int, default=12)
    parser.add_argument("--size", default="2448x2048")
    parser.add_argument("--modes", default="tiles,detector,whole")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--reuse", action="store_true",
                        help="score the runs an earlier call left in --workdir again")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="isegui-large-frames-"))
    base, unseen = workdir / "defects", workdir / "unseen"
    if not args.reuse:
        isegui("demo", "--kind", "defects", str(base), "--images", str(args.train), "--size",
               args.size)
        isegui("demo", "--kind", "defects", str(unseen), "--images", str(args.unseen),
               "--size", args.size, "--seed", str(UNSEEN_SEED))
    stats = json.loads(isegui("stats", str(base), "--json").stdout)
    result = {"benchmark": "large_frames",
              "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "frames": {"size": args.size, "train_project": stats["images"],
                         "splits": stats["splits"], "instances": stats["instances"],
                         "unseen": args.unseen},
              "minutes": args.minutes, "load_average_before": round(os.getloadavg()[0], 2)}
    for mode in args.modes.split(","):
        project = workdir / mode
        if args.reuse:
            run = trained_before(project)
        else:
            shutil.copytree(base, project)
            run = train(project, args.minutes, MODES[mode])
        run["unseen"] = score_unseen(run["checkpoint"], unseen) if run["checkpoint"] else None
        result[mode] = run
    tiles = result.get("tiles", {}).get("checkpoint")
    if tiles:
        model = workdir / "tiles.onnx"
        isegui("export-model", str(workdir / "tiles"), str(model), "--format", "onnx")
        onnx_unseen = score_unseen(str(model), unseen)
        result["onnx"] = {"mask_map": onnx_unseen["mask_map"],
                          "seconds_per_frame": onnx_unseen["seconds_per_frame"]}
        result["peak_rss_20mp"] = {"torch": peak_rss(tiles), "onnxruntime": peak_rss(str(model))}
    result["load_average_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
