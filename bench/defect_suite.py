"""Benchmark: small-defect segmentation on surfaces isegui was not tuned on.

    python bench/defect_suite.py [--surfaces brushed,cast,painted,fabric,pcb] [--train 30]
        [--unseen 12] [--size 2448x2048] [--minutes 15] [--device D] [--train-args "..."]
        [--workdir DIR] [--out FILE] [--quick]

For each surface of bench/surfaces.py: a project of --train frames made through isegui's own
project API (isegui.core.demo.write_synthetic_project: its 80/20 train/val split, so the run
validates on its val frames), and --unseen frames from other seeds that no run sees. Each
surface trains `isegui train DIR --minutes M` with every other setting at its default
(--train-args passes more, for experiments). Its best checkpoint then predicts the unseen frames
as `isegui predict` does, and they are scored against their labels: mask and box mAP and mask
mAP50 (pycocotools, by isegui.ml.train.evaluate), per class too; the labels matched (each to
the best same-class prediction at mask IoU >= 0.5) and their mean IoU; crops a second while
training, steps, and the working scale the run chose; a seam check (predicted centres' place
within the run's tile grid, 16 bins per axis: tile borders that cut or double objects show as
a peak; flatness = largest bin / mean bin, the labels' own figure beside it); and predictions
on unlabeled marks (dust, fibres, glints, the texture's look-alikes) and nowhere near a label.

Every surface is reported; the UNSEEN one (kept out of all tuning) also apart, beside the mean
of the others. Prints one JSON object and writes it to --out (default
bench/results/defect_suite-YYYY-MM-DD.json; with --quick, only where --out says):
  settings, unseen_kind, workdir;
  surfaces.NAME: unseen_kind (bool), classes, train_project (images, splits, instances),
    run (working_scale, device, steps, epochs, crops_per_second, train_seconds, best_val,
    advice), unseen (frames; labels, matched, mean_matched_iou; mask_map, mask_map50, box_map,
    box_map50; per_class.CLASS: the same and mask_ap, mask_ap50, box_ap; found_false_missed
    at score 0.5; seam; predictions_off_labels, predictions_on_marks; blob_thresholds, the
    pixel cutoffs validation calibrated), or error;
  tuned_mean (the other surfaces' mean), unseen_surface (the unseen kind's figures).

    --quick                       768x640 frames (2 x 2 tiles), 6 train + 3 unseen, 0.5 min
    --device cuda --minutes 3     on a card
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.surfaces import SURFACES, UNSEEN, Surface, render, surface  # noqa: E402

TRAIN_SEED, UNSEEN_SEED = 0, 7  # write_synthetic_project's seeds: frame k is seed * 100_003 + k
FULL = {"size": "2448x2048", "train": 30, "unseen": 12, "minutes": 15.0}
QUICK = {"size": "768x640", "train": 6, "unseen": 3, "minutes": 0.5}
SCORE_THRESHOLD = 0.5  # `isegui predict`'s: the predictions a user sees
MATCH_IOU = 0.5
SEAM_BINS = 16
NEAR_LABEL_PX = 2  # a prediction this close to a label is about that label, not a mark


def log(message: str) -> None:
    print(f"[defect_suite] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data and training

def make_projects(kind: Surface, folder: Path, args: argparse.Namespace
                  ) -> tuple[Path, Path, list[np.ndarray]]:
    """The training project, the unseen frames' project and, per unseen frame, its marks."""
    from isegui.core.demo import write_synthetic_project
    width, height = (int(v) for v in args.size.split("x"))
    marks: list[np.ndarray] = []

    def unseen_frame(seed: int, w: int, h: int) -> tuple[np.ndarray, list]:
        frame = render(kind, seed, w, h)
        marks.append(frame.distractors)  # frames are made in order: frame_000, frame_001, ...
        return frame.image, frame.objects

    train, unseen = folder / "train", folder / "unseen"
    for target, generate, count, seed in ((train, kind.generate, args.train, TRAIN_SEED),
                                          (unseen, unseen_frame, args.unseen, UNSEEN_SEED)):
        write_synthetic_project(target, f"defect suite: {kind.name}", kind.classes, generate,
                                "frame_{:03d}.png", count, seed, width, height).close()
    return train, unseen, marks


def isegui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "isegui", *args], capture_output=True,
                          text=True, check=True, cwd=ROOT)


def train(project: Path, minutes: float, extra: list[str]) -> dict[str, Any]:
    """`isegui train` with every setting at its default but `extra`; what its events say."""
    start = time.perf_counter()
    out = isegui("train", str(project), "--minutes", f"{minutes:g}", "--progress", "jsonl",
                 *extra)
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    first = next(e for e in events if e["event"] == "start")
    done = next(e for e in events if e["event"] == "done")
    steps = [e for e in events if e["event"] == "step"]
    best = done.get("best") or {}
    return {"working_scale": first.get("working_scale"), "device": first.get("device"),
            "seconds": round(time.perf_counter() - start, 1),
            "train_seconds": done.get("seconds"), "epochs": done.get("epochs"),
            "steps": done.get("steps"),
            "crops_per_second": steps[-1].get("images_per_s") if steps else None,
            "best_val": {k: best.get(k) for k in ("epoch", "mask_map", "mask_map50", "box_map")},
            "checkpoint": done.get("checkpoint"),
            "advice": [f"{a['level']}: {a['title']}" for a in first.get("advice", [])]}


# --------------------------------------------------------------------------- scoring

def label_ious(sample: Any, detections: list) -> list[float]:
    """Per label: the mask IoU of the best same-class prediction (0 when there is none)."""
    from pycocotools import mask as coco_mask

    from isegui.core import rle
    h, w = sample.height, sample.width
    if not detections:
        return [0.0] * len(sample.shapes)
    truth = [rle.normalize(rle.from_shape(s, h, w)) for s in sample.shapes]
    found = [rle.normalize(d.rle(h, w)) for d in detections]
    iou = np.asarray(coco_mask.iou(found, truth, [0] * len(truth))).reshape(len(found), -1)
    same = np.array([[d.class_index == label for label in sample.labels] for d in detections])
    return np.where(same, iou, 0.0).max(axis=0).tolist()


def tile_starts(length: int, window: int) -> list[int]:
    """Where prediction's tiles start along an axis `length` px long (core.tiling.frame_tiles:
    tiles reaching half an overlap past the frame)."""
    from isegui.core.tiling import frame_tiles
    return sorted({t.rect[0] for t in frame_tiles(length, 1, window)})


def grid_phase(values: list[float], length: int, window: int) -> list[int] | None:
    """A histogram of `values` (px along one axis) by their place between two tile starts of
    the run's grid; None where one tile covers the axis."""
    starts = tile_starts(length, window)
    if len(starts) < 2:
        return None
    stride = (starts[-1] - starts[0]) / (len(starts) - 1)
    phase = ((np.asarray(values, float) - starts[0]) / stride) % 1.0
    return np.histogram(phase, bins=SEAM_BINS, range=(0, 1))[0].tolist()


def flatness(counts: list[int] | None) -> float | None:
    if not counts or sum(counts) == 0:
        return None
    return round(max(counts) / (sum(counts) / len(counts)), 2)


def seam_check(working: Any, size: tuple[int, int], found: list[tuple[float, float]],
               labeled: list[tuple[float, float]]) -> dict[str, Any]:
    """Where predicted centres (and, for reference, labels' centres) fall in the tile grid."""
    if not working.tiled:
        return {"tiled": False, "note": "whole images: no tile grid"}
    out: dict[str, Any] = {"tiled": True, "window_px": working.window, "bins": SEAM_BINS,
                           "predictions": len(found)}
    for axis, length in (("x", size[0]), ("y", size[1])):
        k = 0 if axis == "x" else 1
        counts = grid_phase([c[k] for c in found], length, working.window)
        out[axis] = counts
        out[f"flatness_{axis}"] = flatness(counts)
        out[f"labels_flatness_{axis}"] = flatness(
            grid_phase([c[k] for c in labeled], length, working.window))
    return out


def on_marks(detections: list, labels: np.ndarray, marks: np.ndarray) -> tuple[int, int]:
    """(predictions off every label, those of them on an unlabeled mark)."""
    off, on = 0, 0
    for d in detections:
        (x0, y0), (h, w) = d.origin, d.mask.shape
        under = labels[y0:y0 + h, x0:x0 + w]
        mask = d.mask[:under.shape[0], :under.shape[1]]  # a window is inside its frame; if not
        if (under & mask).any():
            continue
        off += 1
        on += bool((marks[y0:y0 + h, x0:x0 + w] & mask).any())
    return off, on


def near_labels(sample: Any, height: int, width: int) -> np.ndarray:
    import cv2

    from isegui.core.geometry import rasterize
    mask = np.zeros((height, width), bool)
    for shape in sample.shapes:
        mask |= rasterize(shape, height, width)
    size = 2 * NEAR_LABEL_PX + 1
    grown: np.ndarray = cv2.dilate(mask.astype(np.uint8), np.ones((size, size), np.uint8)) > 0
    return grown


def score_unseen(checkpoint: str, unseen: Path, marks: list[np.ndarray],
                 device: str) -> dict[str, Any]:
    """The checkpoint on the unseen frames, predicted as `isegui predict` does."""
    from isegui.core.images import load_image
    from isegui.ml.model.predictors import load_predictor
    from isegui.ml.train.data import read_samples
    predictor = load_predictor(checkpoint, device, threshold=0.05)  # low: for the AP ranking
    classes, by_split, _ = read_samples(unseen, predictor.classes)
    samples = sorted((s for split in by_split.values() for s in split), key=lambda s: s.path)
    detections = [predictor.predict([load_image(s.path)])[0] for s in samples]
    # the run's start reports its working scale before validation calibrates the cutoffs
    return {**score_frames(samples, detections, classes, marks, predictor.working),
            "blob_thresholds": dict(zip(predictor.working.blob_classes,
                                        predictor.working.blob_thresholds))}


def score_frames(samples: list, detections: list[list], classes: list[str],
                 marks: list[np.ndarray], working: Any) -> dict[str, Any]:
    """Predictions (one list per sample) against the samples' labels; `marks` per frame_NNN,
    `working` the run's working scale (its tile grid, for the seam check)."""
    from isegui.ml.train.evaluate import evaluate
    ious, labels, found_centres, label_centres, off, on = [], [], [], [], 0, 0
    for sample, found in zip(samples, detections):
        shown = [d for d in found if d.score >= SCORE_THRESHOLD]
        ious += label_ious(sample, shown)
        labels += list(sample.labels)
        found_centres += [((d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2) for d in shown]
        label_centres += [(s.centroid.x, s.centroid.y) for s in sample.shapes]
        frame_marks = marks[int(Path(sample.path).stem.split("_")[-1])]
        o, m = on_marks(shown, near_labels(sample, sample.height, sample.width), frame_marks)
        off, on = off + o, on + m
    result = evaluate(samples, detections, classes, SCORE_THRESHOLD)
    size = (samples[0].width, samples[0].height) if samples else (0, 0)
    return {"frames": len(samples), **summary(result, classes, ious, labels),
            "found_false_missed": [result[k] for k in ("true_positives", "false_positives",
                                                       "false_negatives")],
            "seam": seam_check(working, size, found_centres, label_centres),
            "predictions_off_labels": off, "predictions_on_marks": on}


def matched(ious: list[float]) -> dict[str, Any]:
    hits = [v for v in ious if v >= MATCH_IOU]
    return {"labels": len(ious), "matched": len(hits),
            "mean_matched_iou": round(float(np.mean(hits)), 4) if hits else None}


def summary(result: dict[str, Any], classes: list[str], ious: list[float],
            labels: list[int]) -> dict[str, Any]:
    """The frame-wide and per-class figures of one surface."""
    curve = result["mask_pr_curve"]["precision"]
    per_class = {}
    for k, name in enumerate(classes, start=1):
        mine = [v for v, label in zip(ious, labels) if label == k]
        per_class[name] = {**matched(mine),
                           "mask_ap": round(result["mask_ap_per_class"][name], 4),
                           "mask_ap50": round(float(np.mean(curve[name])), 4)
                           if mine and curve.get(name) else 0.0,
                           "box_ap": round(result["box_ap_per_class"][name], 4)}
    return {**matched(ious), **{k: round(result[k], 4) for k in
                                ("mask_map", "mask_map50", "box_map", "box_map50")},
            "per_class": per_class}


# --------------------------------------------------------------------------- the suite

def run_surface(name: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    kind = surface(name)
    entry: dict[str, Any] = {"unseen_kind": name == UNSEEN,
                             "classes": [c for c, _ in kind.classes]}
    log(f"{name}: making {args.train} + {args.unseen} frames of {args.size}")
    train_dir, unseen_dir, marks = make_projects(kind, workdir / name, args)
    entry["train_project"] = {k: v for k, v in json.loads(isegui(
        "stats", str(train_dir), "--json").stdout).items() if k in ("images", "splits",
                                                                    "instances")}
    extra = shlex.split(args.train_args) + (["--device", args.device] if args.device else [])
    log(f"{name}: training {args.minutes:g} min")
    try:
        entry["run"] = train(train_dir, args.minutes, extra)
    except subprocess.CalledProcessError as exc:
        entry["error"] = (exc.stderr or exc.stdout or str(exc))[-2000:]
        return entry
    checkpoint = entry["run"].pop("checkpoint")
    if checkpoint is None:
        entry["error"] = "the run left no checkpoint"
        return entry
    log(f"{name}: scoring {args.unseen} unseen frames")
    entry["unseen"] = score_unseen(checkpoint, unseen_dir, marks, args.device or "auto")
    return entry


HEADLINE = ("mask_map", "mask_map50", "box_map", "mean_matched_iou")


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def headline(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The mean of each headline figure over `entries` that were scored."""
    scored = [e["unseen"] for e in entries if "unseen" in e]
    if not scored:
        return None
    means = {k: _mean([s[k] for s in scored if s[k] is not None]) for k in HEADLINE}
    return {"surfaces": len(scored), **means, "matched": sum(s["matched"] for s in scored),
            "labels": sum(s["labels"] for s in scored)}


def settings(args: argparse.Namespace) -> argparse.Namespace:
    """--quick's or the full suite's figure for each size setting not given."""
    base = QUICK if args.quick else FULL
    for key, value in base.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--surfaces", default=",".join(SURFACES),
                        help=f"which, comma-separated (of {', '.join(SURFACES)})")
    parser.add_argument("--train", type=int, help="frames in each training project (30)")
    parser.add_argument("--unseen", type=int, help="unseen frames per surface (12)")
    parser.add_argument("--size", help="frame WxH (2448x2048)")
    parser.add_argument("--minutes", type=float, help="training budget per surface (15)")
    parser.add_argument("--device", help="for training and prediction (default: isegui's)")
    parser.add_argument("--train-args", default="", help="more `isegui train` options")
    parser.add_argument("--workdir", type=Path, help="where the projects go (default: temp)")
    parser.add_argument("--out", type=Path, help="the JSON file (default: bench/results/"
                        "defect_suite-DATE.json; none with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: {QUICK['size']}, {QUICK['train']} + "
                             f"{QUICK['unseen']} frames, {QUICK['minutes']} min")
    return settings(parser.parse_args(argv))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    names = [n.strip() for n in args.surfaces.split(",") if n.strip()]
    for name in names:
        surface(name)  # an unknown name fails before any work
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="isegui-defect-suite-"))
    result: dict[str, Any] = {
        "benchmark": "defect_suite", "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "quick": args.quick,
        "settings": {"size": args.size, "train_frames": args.train,
                     "unseen_frames": args.unseen, "minutes": args.minutes,
                     "device": args.device, "train_args": shlex.split(args.train_args)},
        "workdir": str(workdir), "unseen_kind": UNSEEN,
        "load_average_before": round(os.getloadavg()[0], 2), "surfaces": {}}
    for name in names:
        result["surfaces"][name] = run_surface(name, workdir, args)
    entries = result["surfaces"]
    result["tuned_mean"] = headline([e for n, e in entries.items() if n != UNSEEN])
    result["unseen_surface"] = ({"name": UNSEEN, **(headline([entries[UNSEEN]]) or {})}
                                if UNSEEN in entries else None)
    result["load_average_after"] = round(os.getloadavg()[0], 2)
    text = json.dumps(result, indent=1)
    out = args.out or (None if args.quick else
                       ROOT / "bench" / "results" / f"defect_suite-{result['date']}.json")
    if out:  # before printing: a closed stdout must not lose a long run's figures
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    print(text)
    return result


if __name__ == "__main__":
    main()
