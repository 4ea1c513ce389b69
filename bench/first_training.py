"""Benchmark: a newcomer's first training on the demo project, as the README tells it.

    python bench/first_training.py [--minutes 5] [--images N] [--heldout 50] [--workdir DIR]
                                   [-- EXTRA isegui train ARGUMENTS]

`isegui demo DIR` (the demo's own default size unless --images), `isegui train DIR --minutes M`
with every other setting at its default (random weights: nothing is downloaded), then
`isegui evaluate DIR --json` on the demo's val split, which is what the app shows. The run keeps
its best epoch by val mask mAP, so the val figure is the one a newcomer sees but is chosen on
the same images; the same checkpoint is also scored on --heldout fresh scenes of the demo
generator (other seeds) that no part of the run saw. Prints one JSON object; the load average
before and after says whether something else shared the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

HELDOUT_FIRST_SEED = 90_000  # far from the demo's seeds (0..N) and train_quality's (1000..)


def isegui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "isegui", *args], capture_output=True,
                          text=True, check=True)


def heldout_score(project: Path, n: int) -> dict:
    """The run's best checkpoint on `n` fresh demo scenes."""
    from train_quality import make_project

    from isegui.core.entities import Split
    from isegui.core.images import load_image
    from isegui.core.project import Project
    from isegui.ml.train.data import read_samples
    from isegui.ml.train.evaluate import evaluate
    from isegui.ml.model.torch_predictor import Predictor
    from isegui.ml.runs import checkpoint_file, find_run
    folder = Path(tempfile.mkdtemp(prefix="isegui-heldout-")) / "heldout"
    make_project(folder, n, HELDOUT_FIRST_SEED, (512, 384))
    with Project.open(project, read_only=True) as p:
        checkpoint = checkpoint_file(p, find_run(p, None), "best")
    predictor = Predictor.from_checkpoint(checkpoint, "auto", threshold=0.05)
    classes, by_split, _ = read_samples(folder, predictor.classes)
    samples = by_split[Split.TRAIN]
    detections = []
    for sample in samples:
        detections += predictor.predict([load_image(sample.path)])
    result = evaluate(samples, detections, classes, 0.5)
    return {"images": len(samples), **_scores(result)}


def _scores(result: dict) -> dict:
    out = {k: round(result[k], 4) for k in ("mask_map", "mask_map50", "box_map", "box_map50")}
    out["mask_ap_per_class"] = {k: round(v, 4) for k, v in result["mask_ap_per_class"].items()}
    # at score >= 0.5 (evaluate's default): objects found, false detections, objects missed
    out["found_false_missed"] = [result.get(k) for k in ("true_positives", "false_positives",
                                                          "false_negatives")]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--epochs", type=int, help="an epoch budget instead of minutes: "
                        "compares recipes by the steps they get, where other work shares the "
                        "cores")
    parser.add_argument("--images", type=int, help="demo scenes (default: the demo's own)")
    parser.add_argument("--heldout", type=int, default=50)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("extra", nargs="*", help="more `isegui train` arguments")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="isegui-first-training-"))
    project = workdir / "demo"
    load_before = os.getloadavg()
    isegui("demo", str(project), *(["--images", str(args.images)] if args.images else []))
    stats = json.loads(isegui("stats", str(project), "--json").stdout)
    start = time.perf_counter()
    budget = ["--epochs", str(args.epochs)] if args.epochs else ["--minutes", f"{args.minutes:g}"]
    train = isegui("train", str(project), *budget, *args.extra)
    train_seconds = time.perf_counter() - start
    load_after = os.getloadavg()
    evaluation = json.loads(isegui("evaluate", str(project), "--json").stdout)
    from isegui.core.project import Project
    with Project.open(project, read_only=True) as p:
        record = p.store.runs()[-1]
    history = record.metrics.get("history", [])
    result = {
        "benchmark": "first_training", "machine": f"{platform.machine()}, "
        f"{os.cpu_count()} cores", "budget": budget, "extra_arguments": args.extra,
        "demo_images": stats["images"], "splits": stats["splits"],
        "instances": stats["instances"], "train_seconds": round(train_seconds, 1),
        "epochs": len(history), "steps": history[-1]["step"] if history else 0,
        "weights": record.config.get("init", {}).get("source"),
        "best_epoch": record.metrics.get("best", {}).get("epoch"),
        "val": {"images": stats["splits"].get("val"), **_scores(evaluation)},
        "heldout": heldout_score(project, args.heldout),
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "train_output_tail": train.stderr.strip().splitlines()[-3:],
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
